#!/usr/bin/env bash
# Seeds each fuzz target's corpus (corpus/<target>/, not committed) from the repository's
# fixtures and the ISO 20022 samples, and writes the XML and TOML dictionaries (dict/, not
# committed). Run from anywhere; SAMPLES=/path overrides the ISO samples folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
samples="${SAMPLES:-$repo/../shared/iso20022/samples}"
[ -d "$samples" ] || samples=/work/shared/iso20022/samples
cd "$here"
mkdir -p corpus dict

seed() { # target file...
    local t="$1"; shift
    mkdir -p "corpus/$t"
    for f in "$@"; do
        [ -f "$f" ] || continue
        cp "$f" "corpus/$t/$(sha1sum "$f" | cut -c1-16)-$(basename "$f")"
    done
}

shopt -s nullglob globstar
seed csv_grants "$repo"/fixtures/grants/*.csv "$repo"/fixtures/**/fuzz-csv-*
seed xlsx_grants "$repo"/fixtures/grants/*.xlsx "$repo"/fixtures/**/fuzz-xlsx-*
seed pain002 "$repo"/fixtures/bank/iso/pain002-*.xml "$repo"/fixtures/bank/pain001/*.xml "$samples"/pain.002/**/*.xml "$repo"/fixtures/**/fuzz-pain002-*
seed camt "$repo"/fixtures/bank/iso/camt05*.xml "$samples"/camt.053/**/*.xml "$samples"/camt.054/**/*.xml "$repo"/fixtures/**/fuzz-camt-*
seed domestic_result "$repo"/fixtures/bank/*.txt "$repo"/fixtures/bank/*.csv "$repo"/fixtures/**/fuzz-domestic-*
seed config "$repo"/config/*.toml "$repo"/fixtures/bank/profiles.toml "$repo"/fixtures/**/fuzz-config-*

# Dictionaries: every element name of the XML seeds, every key of the TOML seeds.
cat "$repo"/fixtures/bank/iso/*.xml "$samples"/**/*.xml 2>/dev/null \
    | grep -oE '</?[A-Za-z][A-Za-z0-9_.:-]*' | sort -u | sed 's/.*/"&>"/' > dict/xml.dict
{ printf '"<?xml version=\\"1.0\\"?>"\n"xmlns=\\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\\""\n'
  printf '"xmlns=\\"urn:iso:std:iso:20022:tech:xsd:camt.054.001.02\\""\n"xmlns=\\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.03\\""\n'
  printf '"<!DOCTYPE"\n"<!ENTITY"\n"&amp;"\n"&#x"\n"<![CDATA["\n"]]>"\n'; } >> dict/xml.dict
grep -ohE '^\s*\[\[?[A-Za-z0-9_.]+\]\]?|^\s*[A-Za-z0-9_]+\s*=' "$repo"/config/*.toml "$repo"/fixtures/bank/profiles.toml \
    | sed -E 's/^\s+//; s/\s*=$/ = /; s/"/\\"/g; s/.*/"&"/' | sort -u > dict/toml.dict

for t in corpus/*; do echo "$t: $(ls "$t" | wc -l) seeds"; done
