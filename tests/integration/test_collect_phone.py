"""Phones typed in the browser: /collect reads a national number in the country of the
browser's Accept-Language region, else in collect.phone_country, and stores the hash of
the same E.164 form a webhook gives; with neither the beacon is refused. A reload with
an unknown collect.phone_country is refused and the old configuration kept."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ttr_harness import Daemon, is_, phone_hash, run_cases  # noqa: E402


def post_phone(d, vid, phone, language):
    headers = {"Accept-Language": language} if language else {}
    return d.post_collect({"vid": vid, "phone": phone}, headers=headers)


def phone_hashes(d, vid):
    st, obj = d.admin_get("/admin/touches?vid=" + vid)
    return [t.get("phone_hash") for t in (obj or {}).get("touches") or []] if st == 200 else None


def test_phone_country_reads_national_numbers():
    d = Daemon(None, collect={"phone_country": "GB"})
    gb = phone_hash("+447700900123")
    cases = (
        ("v-bare", "07700 900123", "de,en;q=0.5", gb,
         "a browser naming no region: the number is read in collect.phone_country"),
        ("v-us", "07700 900123", "en-US,en;q=0.9", gb,
         "an en-US browser with a British number: phone_country reads what US cannot"),
        ("v-de", "0151 23456789", "de-DE,de;q=0.9", phone_hash("+4915123456789"),
         "a German browser's German number stays German"),
        ("v-intl", "+44 07700 900123", None, gb,
         "an international number with the trunk 0 after +44 needs no country"),
    )
    for vid, phone, language, want, name in cases:
        is_(post_phone(d, vid, phone, language), 204, name + ": 204")
        is_(phone_hashes(d, vid), [want], name + ": hash of the E.164 form")

    is_(d.reload(collect={"phone_country": "XX"}), "refused",
        "a reload naming an unknown collect.phone_country is refused")
    is_(post_phone(d, "v-kept", "07700 900123", None), 204,
        "the refused reload kept collect.phone_country = GB")
    is_(d.reload(collect={"phone_country": ""}), "reloaded", "collect.phone_country removed")
    is_(post_phone(d, "v-none", "07700 900123", "de,en;q=0.5"), 400,
        "without collect.phone_country a national number from a browser naming no region is refused")
    is_(phone_hashes(d, "v-none"), [], "nothing stored for the refused beacon")


if __name__ == "__main__":
    run_cases([test_phone_country_reads_national_numbers])
