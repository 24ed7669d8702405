"""Write config/README.md from the config schema's descriptions, or check that it is current.

    python tools/config_reference.py          # (re)write config/README.md
    python tools/config_reference.py --check  # exit 1 when config/README.md is not what this writes

Every config key is documented once, in `src/xlser/schemas/config.schema.yaml` (its
`description`); the rendering is `xlser.config_reference`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from xlser.config_reference import render, undocumented  # noqa: E402

TARGET = REPO / "config" / "README.md"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that config/README.md is current")
    args = ap.parse_args()
    missing = undocumented()
    if missing:
        print("schema keys without a description:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    text = render()
    if args.check:
        if not TARGET.is_file() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(REPO)} is stale: run `python tools/config_reference.py`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
