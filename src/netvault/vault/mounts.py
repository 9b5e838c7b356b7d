"""Where netvault's engines live on a Vault: a fact of the Vault layout (set
with ``[mounts]`` in the config file), so it sits with the Vault access code."""

from __future__ import annotations

from dataclasses import dataclass

from netvault.errors import UsageError


@dataclass(frozen=True)
class Mounts:
    """Where netvault's engines live (``[mounts]`` in the config file). The
    only place their default names are written; every path, policy and audit
    classification is built from an instance of this."""

    kv: str = "netvault"
    transit: str = "netvault-transit"
    userpass: str = "userpass"

    def validated(self) -> "Mounts":
        """Itself, once each name has the strict shape of ``names.mount`` and
        the two secrets engines differ (UsageError, exit 2, otherwise)."""
        from netvault.values import names

        names.mount(self.kv, "[mounts] kv")
        names.mount(self.transit, "[mounts] transit")
        names.mount(self.userpass, "[mounts] userpass")
        if self.kv == self.transit:
            raise UsageError(f"[mounts] kv and transit must differ (both {names.shown(self.kv)})")
        return self
