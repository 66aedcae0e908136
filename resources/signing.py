from __future__ import annotations

import dagster as dg
from pydantic import Field

from mbdg_assets.storage.project import ProjectPaths, project_dir_from_env
from mbdg_assets.manifest.signing import SigningKey, load_or_create_key


class SignerResource(dg.ConfigurableResource):
    """The manifest signing key: MBDG_SIGNING_KEY, else a 0600 key file in the project."""

    key_dir: str = Field(default="", description="Folder of signing.key; empty = <project dir>/keys")

    def key(self) -> SigningKey:
        return load_or_create_key(self.key_dir or ProjectPaths(project_dir_from_env()).keys)
