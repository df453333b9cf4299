"""Thread-safe state of one sandbox zone: settings, Origin CA certificates, Authenticated Origin Pulls.

The API emulator (:mod:`.api`) changes it; the emulated edge reads it (:meth:`ZoneState.settings`,
:meth:`ZoneState.active_client_identity`) and sleeps in :meth:`ZoneState.wait_for_change` until something changes.
Every mutator validates exactly as the API does and raises :class:`SandboxApiError` (HTTP status, Cloudflare error
code, message), so a refusal looks the same whether it came through HTTP or a direct call.

The rules (defaults, validation, records) live in :mod:`.zone_rules`; the names of the contract are re-exported here.
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..baseline import ORIGIN_CA_VALIDITY_DAYS, AopMode, parse_hostnames, parse_zone_id
from .origin_ca import REQUEST_TYPES, ClientIdentity, CsrRefused, SandboxOriginCa, build_global_aop_identity
from .zone_rules import (
    AOP_STATUSES,
    AUTO_ORIGIN_TLS_KEX,
    COMPLIANCE_MODES,
    DEFAULT_ACTIVATION_DELAY,
    DEFAULT_REQUESTED_VALIDITY,
    DEFAULT_SETTINGS,
    MAX_HOSTNAME_CERTIFICATES,
    ORIGIN_TLS_COMPLIANCE_MODES,
    SETTING_IDS,
    AopCertificate,
    HostnameAssociation,
    OriginCertificate,
    SandboxApiError,
    SettingEntry,
    SettingError,
    invalid,
    is_zone_hostname,
    parse_client_certificate,
    parse_origin_hostnames,
    signature_name,
    utc_now,
    validate_auto_origin_tls_kex,
    validate_compliance_modes,
    validate_setting_value,
    zone_name_of,
)

__all__ = [
    "AOP_STATUSES",
    "AUTO_ORIGIN_TLS_KEX",
    "COMPLIANCE_MODES",
    "DEFAULT_ACTIVATION_DELAY",
    "DEFAULT_SETTINGS",
    "ORIGIN_TLS_COMPLIANCE_MODES",
    "SETTING_IDS",
    "AopCertificate",
    "ClientIdentity",
    "HostnameAssociation",
    "OriginCertificate",
    "SandboxApiError",
    "SettingEntry",
    "SettingError",
    "ZoneState",
]


class ZoneState:
    """One zone. All public methods are thread-safe; values handed out are copies."""

    def __init__(
        self,
        *,
        zone_id: str,
        hostnames: Sequence[str],
        account_token: str,
        zone_name: str | None = None,
        activation_delay: float = DEFAULT_ACTIVATION_DELAY,
    ) -> None:
        self.zone_id: str = parse_zone_id(zone_id)
        self.hostnames: tuple[str, ...] = parse_hostnames(hostnames)
        self.zone_name: str = zone_name.lower().rstrip(".") if zone_name else zone_name_of(self.hostnames)
        self._account_token = account_token
        self.activation_delay = activation_delay
        self.origin_ca = SandboxOriginCa()
        self.global_aop: ClientIdentity = build_global_aop_identity()
        self._cond = threading.Condition(threading.RLock())
        self._version = 0
        self._settings: dict[str, SettingEntry] = {
            key: SettingEntry(key, copy.deepcopy(value), None) for key, value in DEFAULT_SETTINGS.items()
        }
        # On by default since 2026-07-21: a new zone's setting reads as modified when the zone was made.
        self._auto_kex = SettingEntry(AUTO_ORIGIN_TLS_KEX, True, utc_now())
        self._compliance_modes = SettingEntry(ORIGIN_TLS_COMPLIANCE_MODES, [], None)
        self._origin_certs: dict[str, OriginCertificate] = {}
        self._zone_aop_enabled = False
        self._zone_certs: dict[str, AopCertificate] = {}
        self._hostname_certs: dict[str, AopCertificate] = {}
        self._associations: dict[str, HostnameAssociation] = {}

    def __repr__(self) -> str:
        return f"ZoneState(zone_id={self.zone_id!r}, zone_name={self.zone_name!r}, hostnames={self.hostnames!r})"

    def is_account_token(self, token: str) -> bool:
        """Constant-time comparison; the token itself is never handed out."""
        return secrets.compare_digest(token.encode("utf-8"), self._account_token.encode("utf-8"))

    # -- change tracking -------------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        with self._cond:
            return self._version

    def _changed(self) -> None:
        self._version += 1
        self._cond.notify_all()

    def wait_for_change(self, version: int, timeout: float) -> int:
        """Block until the version differs from ``version`` or ``timeout`` seconds pass; the current version."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != version, timeout=timeout)
            return self._version

    # -- settings --------------------------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        with self._cond:
            return {key: copy.deepcopy(entry.value) for key, entry in self._settings.items()}

    def setting_entry(self, setting_id: str) -> SettingEntry:
        with self._cond:
            entry = self._settings.get(setting_id)
            if entry is None:
                # Cloudflare: "Unrecognized zone setting name: origin_max_http_version (1006)" (TF#1810).
                raise SettingError(1006, f"Unrecognized zone setting name: {setting_id}")
            return replace(entry, value=copy.deepcopy(entry.value))

    def get_setting(self, setting_id: str) -> Any:
        return self.setting_entry(setting_id).value

    def set_setting(self, setting_id: str, value: Any) -> Any:
        """Validate and store; the stored value. Raises :class:`SettingError` as the API would."""
        with self._cond:
            current = self.setting_entry(setting_id).value
            stored = validate_setting_value(setting_id, value, current)
            self._settings[setting_id] = SettingEntry(setting_id, stored, utc_now())
            self._changed()
            return copy.deepcopy(stored)

    # -- origin key exchange (not in settings(): neither is a {"value"} setting of the list) -------------------

    def auto_origin_tls_kex_entry(self) -> SettingEntry:
        """``auto_origin_tls_kex``; its ``value`` is the ``enabled`` boolean."""
        with self._cond:
            return self._auto_kex

    def set_auto_origin_tls_kex(self, body: object) -> bool:
        """Apply a ``PATCH`` body ``{"enabled": bool}`` (:func:`~.zone_rules.validate_auto_origin_tls_kex`)."""
        enabled = validate_auto_origin_tls_kex(body)
        with self._cond:
            self._auto_kex = SettingEntry(AUTO_ORIGIN_TLS_KEX, enabled, utc_now())
            self._changed()
        return enabled

    def compliance_modes_entry(self) -> SettingEntry:
        """``origin_tls_compliance_modes``; its ``value`` is the list of modes (a copy)."""
        with self._cond:
            return replace(self._compliance_modes, value=list(self._compliance_modes.value))

    def set_origin_tls_compliance_modes(self, value: object) -> list[str]:
        """Store the modes (``[]`` clears); refused as the API refuses (:func:`.validate_compliance_modes`)."""
        modes = validate_compliance_modes(value)
        with self._cond:
            self._compliance_modes = SettingEntry(ORIGIN_TLS_COMPLIANCE_MODES, modes, utc_now())
            self._changed()
        return list(modes)

    def origin_key_exchange(self) -> tuple[bool, tuple[str, ...]]:
        """What the edge's pulls obey: automatic origin key exchange on, and the compliance modes in force."""
        with self._cond:
            return bool(self._auto_kex.value), tuple(self._compliance_modes.value)

    # -- Origin CA -------------------------------------------------------------------------------------------

    def is_zone_hostname(self, name: str) -> bool:
        return is_zone_hostname(name, self.zone_name)

    def create_origin_certificate(
        self, *, csr: object, hostnames: object, request_type: object, requested_validity: object = None
    ) -> OriginCertificate:
        """Sign ``csr`` with the sandbox Origin CA after the checks ``POST /certificates`` makes."""
        if request_type not in REQUEST_TYPES:
            raise invalid("request_type must be one of " + ", ".join(REQUEST_TYPES))
        validity = DEFAULT_REQUESTED_VALIDITY if requested_validity is None else requested_validity
        if isinstance(validity, bool) or not isinstance(validity, (int, float)):
            validity = -1
        if validity not in ORIGIN_CA_VALIDITY_DAYS:
            raise invalid("requested_validity must be one of " + ", ".join(map(str, ORIGIN_CA_VALIDITY_DAYS)))
        names = parse_origin_hostnames(hostnames, self.zone_name)
        try:
            signed = self.origin_ca.sign_csr(csr, names, str(request_type), int(validity))  # type: ignore[arg-type]
        except CsrRefused as exc:
            raise invalid(exc.message) from None
        record = OriginCertificate(
            id=signed.id,
            certificate_pem=signed.certificate_pem,
            csr=str(csr),
            hostnames=names,
            request_type=str(request_type),
            requested_validity=int(validity),
            expires_on=signed.expires_on,
        )
        with self._cond:
            self._origin_certs[record.id] = record
            self._changed()
        return record

    def list_origin_certificates(self) -> list[OriginCertificate]:
        with self._cond:
            return [cert for cert in self._origin_certs.values() if cert.revoked_at is None]

    def get_origin_certificate(self, certificate_id: str) -> OriginCertificate:
        with self._cond:
            cert = self._origin_certs.get(certificate_id)
        if cert is None or cert.revoked_at is not None:
            # The Origin CA's answer for an unknown (or truncated) id (python-cloudflare#38; cloudflare.md §2.2: 1101).
            raise SandboxApiError(1101, "Failed to read certificate from Database", status=404)
        return cert

    def revoke_origin_certificate(self, certificate_id: str) -> OriginCertificate:
        with self._cond:
            cert = replace(self.get_origin_certificate(certificate_id), revoked_at=utc_now())
            self._origin_certs[certificate_id] = cert
            self._changed()
            return cert

    # -- Authenticated Origin Pulls ----------------------------------------------------------------------------

    def _new_aop_certificate(self, certificate: object, private_key: object) -> AopCertificate:
        leaf, key_pem, ca_pem = parse_client_certificate(certificate, private_key)
        return AopCertificate(
            id=secrets.token_hex(16),
            certificate_pem=str(certificate).strip() + "\n",
            private_key_pem=key_pem,
            issuer=leaf.issuer.rfc4514_string(),
            signature=signature_name(leaf),
            serial_number=str(leaf.serial_number),
            expires_on=leaf.not_valid_after_utc,
            uploaded_on=utc_now(),
            status="initializing",
            ca_pem=ca_pem,
        )

    def _schedule(self, action: Callable[[], None]) -> None:
        if self.activation_delay <= 0:
            action()
            return
        timer = threading.Timer(self.activation_delay, action)
        timer.daemon = True
        timer.start()

    def _set_status(self, store: dict[str, AopCertificate], cert_id: str, status: str) -> None:
        with self._cond:
            cert = store.get(cert_id)
            if cert is None:
                return
            if status == "deleted":
                del store[cert_id]
            elif cert.status != "pending_deletion" or status == "pending_deletion":
                store[cert_id] = replace(cert, status=status)
            self._changed()

    def _upload(self, store: dict[str, AopCertificate], certificate: object, private_key: object) -> AopCertificate:
        cert = self._new_aop_certificate(certificate, private_key)
        with self._cond:
            if store is self._hostname_certs and len(store) >= MAX_HOSTNAME_CERTIFICATES:
                raise invalid(f"{MAX_HOSTNAME_CERTIFICATES} hostname certificates per zone are allowed")
            store[cert.id] = cert
            self._changed()
        self._schedule(lambda: self._set_status(store, cert.id, "active"))
        return cert

    def _get(self, store: dict[str, AopCertificate], cert_id: str) -> AopCertificate:
        with self._cond:
            cert = store.get(cert_id)
        if cert is None:
            raise SandboxApiError(1404, "Certificate not found", status=404)
        return cert

    def _delete(self, store: dict[str, AopCertificate], cert_id: str) -> AopCertificate:
        with self._cond:
            self._get(store, cert_id)
            self._set_status(store, cert_id, "pending_deletion")
            cert = store[cert_id]
        self._schedule(lambda: self._set_status(store, cert_id, "deleted"))
        return cert

    def upload_zone_certificate(self, certificate: object, private_key: object) -> AopCertificate:
        return self._upload(self._zone_certs, certificate, private_key)

    def list_zone_certificates(self) -> list[AopCertificate]:
        with self._cond:
            return list(self._zone_certs.values())

    def get_zone_certificate(self, cert_id: str) -> AopCertificate:
        return self._get(self._zone_certs, cert_id)

    def delete_zone_certificate(self, cert_id: str) -> AopCertificate:
        return self._delete(self._zone_certs, cert_id)

    @property
    def zone_aop_enabled(self) -> bool:
        with self._cond:
            return self._zone_aop_enabled

    def set_zone_aop_enabled(self, enabled: object) -> bool:
        if not isinstance(enabled, bool):
            raise invalid("enabled must be true or false")
        with self._cond:
            self._zone_aop_enabled = enabled
            self._changed()
        return enabled

    def upload_hostname_certificate(self, certificate: object, private_key: object) -> AopCertificate:
        return self._upload(self._hostname_certs, certificate, private_key)

    def list_hostname_certificates(self) -> list[AopCertificate]:
        with self._cond:
            return list(self._hostname_certs.values())

    def get_hostname_certificate(self, cert_id: str) -> AopCertificate:
        return self._get(self._hostname_certs, cert_id)

    def delete_hostname_certificate(self, cert_id: str) -> AopCertificate:
        return self._delete(self._hostname_certs, cert_id)

    def set_hostname_associations(self, config: object) -> list[HostnameAssociation]:
        """Apply ``PUT .../hostnames`` ``config``: ``enabled`` true/false sets, ``null`` voids the association.

        All entries are validated before any is applied. Returns the associations that remain for those hostnames.
        """
        if not isinstance(config, list) or not config:
            raise invalid("config must be a non-empty list of {hostname, cert_id, enabled}")
        parsed: list[tuple[str, str, bool | None]] = []
        with self._cond:
            for item in config:
                if not isinstance(item, dict) or not isinstance(item.get("hostname"), str):
                    raise invalid("every config entry needs a hostname")
                hostname = item["hostname"].strip().lower().rstrip(".")
                if "*" in hostname or not self.is_zone_hostname(hostname):
                    raise invalid(f"Hostname {hostname} does not belong to zone {self.zone_name}")
                cert_id, enabled = item.get("cert_id"), item.get("enabled")
                if enabled is not None and not isinstance(enabled, bool):
                    raise invalid("enabled must be true, false or null")
                if enabled is not None and (not isinstance(cert_id, str) or cert_id not in self._hostname_certs):
                    raise invalid(f"cert_id {cert_id!r} is not a hostname certificate of this zone")
                parsed.append((hostname, str(cert_id), enabled))
            now = utc_now()
            for hostname, cert_id, enabled in parsed:
                if enabled is None:
                    self._associations.pop(hostname, None)
                    continue
                previous = self._associations.get(hostname)
                created = previous.created_at if previous else now
                self._associations[hostname] = HostnameAssociation(hostname, cert_id, enabled, created, now)
            self._changed()
            return [self._associations[h] for h, _, e in parsed if e is not None and h in self._associations]

    def get_hostname_association(self, hostname: str) -> HostnameAssociation:
        with self._cond:
            association = self._associations.get(hostname.lower().rstrip("."))
        if association is None:
            raise SandboxApiError(1404, f"No client certificate association for hostname {hostname}", status=404)
        return association

    def association_certificate(self, association: HostnameAssociation) -> AopCertificate | None:
        with self._cond:
            return self._hostname_certs.get(association.cert_id)

    # -- what the edge reads ------------------------------------------------------------------------------------

    def _newest_active_zone_certificate(self) -> AopCertificate | None:
        active = [cert for cert in self._zone_certs.values() if cert.status == "active"]
        return max(active, key=lambda cert: cert.uploaded_on) if active else None

    def active_client_identity(self, hostname: str) -> ClientIdentity | None:
        """The client certificate the edge presents when pulling ``hostname`` from the origin.

        The rule ``zone.aop_certificate`` judges by (:mod:`origin_tls.zone`; Cloudflare docs,
        ``authenticated-origin-pull``): a per-hostname association decides alone: enabled, its certificate while it is
        ``active`` (none before); *disabled*, no certificate at all ("client certificate will not be sent to the
        hostname even if activated at the zone level", openapi). Else zone-level (setting enabled): the newest
        ``active`` zone-level certificate; else (or with none active) the global certificate when ``tls_client_auth``
        is on; else ``None``. ``ClientIdentity.ca_pem`` is ``""`` when the issuer of an uploaded certificate was not
        part of the upload.
        """
        with self._cond:
            association = self._associations.get(hostname.lower().rstrip("."))
            if association is not None:
                cert = self._hostname_certs.get(association.cert_id) if association.enabled else None
                return cert.identity() if cert is not None and cert.status == "active" else None
            if self._zone_aop_enabled:
                zone_cert = self._newest_active_zone_certificate()
                if zone_cert is not None:
                    return zone_cert.identity()
            if self._settings["tls_client_auth"].value == "on":
                return self.global_aop
            return None

    def pull_ca_pem(self, level: AopMode, *, hostname: str | None = None) -> str | None:
        """The CA an origin must trust (nginx ``ssl_client_certificate``) for AOP at ``level``.

        ``global``: the sandbox's global origin-pull CA. ``zone``: the issuer of the newest active zone certificate.
        ``hostname``: the issuer of the active certificate associated with ``hostname`` (default: the first
        association). For uploaded certificates the issuer is known only when it was in the upload (a self-signed
        certificate is its own issuer); otherwise ``None``, as it is for ``off`` or nothing active.
        """
        with self._cond:
            if level is AopMode.GLOBAL:
                return self.global_aop.ca_pem
            if level is AopMode.ZONE:
                zone_cert = self._newest_active_zone_certificate()
                return zone_cert.ca_pem if zone_cert else None
            if level is AopMode.HOSTNAME:
                key = hostname.lower().rstrip(".") if hostname else None
                for name, association in self._associations.items():
                    if key is not None and name != key:
                        continue
                    cert = self._hostname_certs.get(association.cert_id)
                    if cert is not None and cert.status == "active":
                        return cert.ca_pem
            return None
