from __future__ import annotations

import dagster as dg
from pydantic import Field

from mbdg_assets.storage.project import ProjectPaths, project_dir_from_env
from mbdg_assets.manifest.signing import SigningKey, continuing_key


class SignerResource(dg.ConfigurableResource):
    """The manifest signing key: MBDG_SIGNING_KEY, else a 0600 key file in the project; a key other
    than the one that signed the project's last manifest is refused unless `allow_key_change`."""

    key_dir: str = Field(default="", description="Folder of signing.key; empty = <project dir>/keys")
    allow_key_change: bool = Field(default=False, description="Sign even when the key differs from the one that "
                                   "signed the project's last manifest (the change is recorded in the manifest)")

    def key(self, last_key_id: str | None = None) -> SigningKey:
        return continuing_key(self.key_dir or ProjectPaths(project_dir_from_env()).keys, last_key_id, self.allow_key_change)
