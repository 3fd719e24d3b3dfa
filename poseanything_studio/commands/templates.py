"""`poseanything-studio templates`: the rig templates the window's Rig menu offers."""

from __future__ import annotations

from .shared import EXIT_OK, PROG, OneLineParser


def main(argv: list[str]) -> int:
    """List the bundled rig templates: key, joint count, name and description."""
    OneLineParser(prog=f"{PROG} templates", description="List the bundled rig templates.").parse_args(argv)
    from poseanything_studio.core.templates import load_templates

    for template in load_templates():
        print(f"{template.key:10} {len(template.rig.joints):3} joints  {template.name}: {template.description}")
    return EXIT_OK
