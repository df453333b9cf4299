"""The origin-tls policy pack (run by the Pulumi CLI from this directory; see ``PulumiPolicy.yaml``)."""
