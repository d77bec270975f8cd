"""The integration's metadata tells the truth: the manifest claims no quality tier that
quality_scale.yaml does not back, every rule there has a known status (and a reason unless done),
and the translation files are what scripts/ha/gen_strings.py generates."""

from __future__ import annotations

import json
import runpy

from homeassistant.util.yaml import load_yaml_dict

from .hsi_server import REPO

INTEGRATION = REPO / "custom_components" / "home_security_intelligence"


def test_manifest_claims_no_quality_tier() -> None:
    """Custom integrations do not declare a tier; quality_scale.yaml is where the rules are tracked."""
    manifest = json.loads((INTEGRATION / "manifest.json").read_text(encoding="utf-8"))
    assert "quality_scale" not in manifest


def test_quality_scale_records_every_rule() -> None:
    """Each rule is done, or exempt / todo with the reason written down."""
    rules = load_yaml_dict(str(INTEGRATION / "quality_scale.yaml"))["rules"]
    assert len(rules) >= 50
    for name, rule in rules.items():
        if rule == "done":
            continue
        assert isinstance(rule, dict) and rule["status"] in ("exempt", "todo"), name
        assert rule.get("comment"), name
    assert rules["diagnostics"] == "done"


def test_translations_are_generated() -> None:
    """strings.json and translations/en.json are gen_strings.py's output, unedited."""
    generated = runpy.run_path(str(REPO / "scripts" / "ha" / "gen_strings.py"))["render"]()
    for path in (INTEGRATION / "strings.json", INTEGRATION / "translations" / "en.json"):
        assert path.read_text(encoding="utf-8") == generated, f"{path.name}: run scripts/ha/gen_strings.py"
