"""Tests of the local sandbox zone (API emulator, Origin CA, zone state)."""
