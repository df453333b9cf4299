"""Hostnames as DESIGN.md says: IDNA A-labels, the trailing dot dropped, wildcards, IPs and bad lengths refused."""

from __future__ import annotations

import io
import json

import idna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin_tls.baseline import parse_hostname, parse_hostnames
from origin_tls.cli import main
from origin_tls.errors import InvalidInput
from tests.peers.tls_servers import closed_port


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("App.Example.COM.", "app.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("Bücher.Example.", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),  # an A-label given stays as it is
        ("ß.de", "xn--zca.de"),  # IDNA 2008 / UTS 46 non-transitional: not "ss.de" (IDNA 2003)
        ("\uff21\uff30\uff30\uff0eexample\uff0ecom", "app.example.com"),  # full-width letters and dots (UTS 46)
        ("a" * 63 + ".example.com", "a" * 63 + ".example.com"),
    ],
)
def test_names_become_their_ascii_form(given_name: str, expected: str) -> None:
    assert parse_hostname(given_name) == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("*.example.com", "not a wildcard"),
        ("a.*.example.com", "not a wildcard"),
        ("192.0.2.1", "not an IP address"),
        ("::1", "not an IP address"),
        ("[2001:db8::1]", "not an IP address"),
        ("2001:db8::1", "not an IP address"),
        ("a.123", "not an IP address"),
        ("a..example.com", "without empty labels"),
        (".example.com", "without empty labels"),
        ("example.com..", "without empty labels"),
        ("", "not empty"),
        (".", "not empty"),
        ("localhost", "with at least two labels"),
        ("a" * 64 + ".example.com", "with labels of at most 63 characters"),
        (".".join(["a" * 63] * 4) + ".com", "of at most 253 characters"),
        ("exa mple.com", "letters, digits and hyphens"),
        ("under_score.example.com", "letters, digits and hyphens"),
        ("-lead.example.com", "letters, digits and hyphens"),
        ("xn--zz-invalid.example.com", "letters, digits and hyphens or valid IDNA"),
    ],
)
def test_bad_names_are_refused_naming_the_value_and_the_rule(value: str, why: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_hostname(value, field_name="HOSTNAME")
    message = str(caught.value)
    assert message.startswith("HOSTNAME must be a DNS hostname such as app.example.com"), message
    assert why in message, message
    assert repr(value) in message, message


def test_a_unicode_label_that_is_too_long_once_encoded_is_refused() -> None:
    # 60 characters of "ü" are fewer than 63, but their A-label is far longer: the rule is on what DNS carries.
    name = "ü" * 60 + ".example.com"
    with pytest.raises(InvalidInput, match="at most 63 characters"):
        parse_hostname(name)


def test_the_wildcard_is_allowed_only_where_asked_for_and_only_as_the_first_label() -> None:
    assert parse_hostname("*.Bücher.example", allow_wildcard=True) == "*.xn--bcher-kva.example"
    with pytest.raises(InvalidInput, match="whole first label"):
        parse_hostname("a*.example.com", allow_wildcard=True)
    with pytest.raises(InvalidInput, match="not a wildcard"):
        parse_hostname("*.example.com")


def test_the_list_is_deduplicated_after_conversion() -> None:
    assert parse_hostnames(["bücher.example", "XN--BCHER-KVA.example."]) == ("xn--bcher-kva.example",)
    with pytest.raises(InvalidInput, match=r"hostnames\[1\] must be"):
        parse_hostnames(["ok.example.com", "192.0.2.1"])


_LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\Z")


@given(st.lists(_LABEL, min_size=1, max_size=4), st.sampled_from(["com", "example", "test"]), st.booleans())
def test_ascii_names_survive_case_and_a_trailing_dot(labels: list[str], tld: str, dot: bool) -> None:
    name = ".".join([*labels, tld])
    shown = name.upper() + ("." if dot else "")
    assert parse_hostname(shown) == name


@given(st.text(alphabet=st.characters(min_codepoint=0xC0, max_codepoint=0x24F), min_size=1, max_size=12))
def test_a_unicode_name_is_either_refused_or_its_a_label_decodes_back(label: str) -> None:
    name = f"{label}.example"
    try:
        result = parse_hostname(name)
    except InvalidInput as exc:
        refusal = str(exc)
        assert repr(name) in refusal
        return
    assert result.isascii()
    assert result == result.lower()
    assert idna.decode(result) == idna.decode(idna.encode(name, uts46=True))


def test_the_report_shows_the_a_label() -> None:
    # Given a Unicode hostname and an edge where nothing listens
    dead = str(closed_port())
    out, err = io.StringIO(), io.StringIO()
    # When verify runs
    code = main(["verify", "Bücher.Example", "--edge", dead, "--edge-http", dead, "--timeout", "0.5", "--json"],
                stdout=out, stderr=err)  # fmt: skip
    # Then the report names the A-label that SNI and Host carried
    assert code == 3, err.getvalue()
    assert [t["hostname"] for t in json.loads(out.getvalue())["targets"]] == ["xn--bcher-kva.example"]


@pytest.mark.parametrize("bad", ["*.example.com", "192.0.2.1", "a..example.com"])
def test_the_cli_refuses_a_bad_name_with_exit_2(bad: str) -> None:
    dead = str(closed_port())
    out, err = io.StringIO(), io.StringIO()
    code = main(["verify", bad, "--edge", dead, "--edge-http", dead], stdout=out, stderr=err)
    assert code == 2
    assert out.getvalue() == ""
    assert "HOSTNAME[0] must be a DNS hostname" in err.getvalue()
    assert repr(bad) in err.getvalue()
