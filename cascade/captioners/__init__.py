"""Front-end components, imported as `cascade.captioners.<module>`.

In a source checkout (and an editable install) they live in `captioners/` at the top of the
repository, where the design keeps them; this package points there. A wheel installs that folder
in this one's place (pyproject.toml, `force-include`), so no top-level `captioners` package is
installed beside other projects'.
"""

from pathlib import Path

__path__ = [str(Path(__file__).resolve().parents[2] / "captioners")]
