"""Which Prosody the plugin tests run, and how to start its programs.

`JOINGATE_PROSODY=0.12` (the default) runs Debian 12's package installed on this machine;
`JOINGATE_PROSODY=13` runs Debian 13 "trixie"'s package (Prosody 13.0) from the folder that
scripts/prosody13.sh debootstraps (`JOINGATE_PROSODY13_ROOT`, default below), with chroot.

Inside that folder a program sees this machine's temporary directory at the same path, so each
test server's config, data, log, pid file and admin socket keep their paths, and the checkout
read-only at /mnt (the plugin, the Lua tests). The binds are made in a mount namespace of the
program's own (`unshare --mount`): they end with it, even when a test crashes, and the
machine's mount table never changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRIXIE_ROOT = Path("/var/cache/joingate/trixie-prosody13")
COMPLETE_MARKER = ".joingate-prosody13-complete"  # written by scripts/prosody13.sh
CHECKOUT_INSIDE = Path("/mnt")

# $1 the folder, $2 the temporary directory, $3 the checkout; then the program and its arguments.
_BIND_AND_CHROOT = """set -e
root=$1 tmp=$2 repo=$3
shift 3
mkdir -p "$root$tmp"
mount --bind "$tmp" "$root$tmp"
mount --bind -o ro "$repo" "$root/mnt"
exec chroot "$root" "$@"
"""


@dataclass(frozen=True)
class ProsodyInstall:
    """A Prosody the tests can run: this machine's (root None) or one in a chroot folder."""

    name: str  # "0.12" or "13", as JOINGATE_PROSODY names it
    root: Path | None = None

    @classmethod
    def from_env(cls) -> ProsodyInstall:
        wanted = os.environ.get("JOINGATE_PROSODY", "0.12")
        if wanted == "0.12":
            return cls("0.12")
        if wanted == "13":
            return cls("13", Path(os.environ.get("JOINGATE_PROSODY13_ROOT", TRIXIE_ROOT)))
        raise ValueError(f"JOINGATE_PROSODY={wanted!r}: expected 0.12 or 13")

    def argv(self, program: str, *args: str) -> list[str]:
        """The command line that runs `program` (prosody, prosodyctl, lua5.4) of this install."""
        if self.root is None:
            return [shutil.which(program) or f"/usr/bin/{program}", *args]
        return ["unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", _BIND_AND_CHROOT, "sh", str(self.root), str(_tmp()), str(REPO),
                program, *args]

    def path(self, host: Path) -> str:
        """`host` (a path on this machine) as this install's programs see it."""
        if self.root is None:
            return str(host)
        real = host.resolve()
        if real.is_relative_to(_tmp()):
            return str(real)
        if real.is_relative_to(REPO):
            return str(CHECKOUT_INSIDE / real.relative_to(REPO))
        raise ValueError(f"{host} is outside {_tmp()} and {REPO}: Prosody {self.name} "
                         "cannot see it")

    def problem(self) -> str | None:
        """Why this install cannot run (with what to do), or None."""
        if self.root is None:
            if shutil.which("prosody") is None:
                return "Debian's prosody is not installed (apt-get install prosody lua-check)"
            return None
        if os.geteuid() != 0:
            return f"Prosody {self.name} runs with chroot and unshare, which need root"
        if not (self.root / COMPLETE_MARKER).exists():
            return (f"Prosody 13 is not in {self.root}: run `bash scripts/prosody13.sh` "
                    "(scripts/setup.sh --test does)")
        return None

    def version(self) -> str:
        """The version the installed Prosody reports (`prosodyctl about`), e.g. "13.0.1"."""
        about = subprocess.run(self.argv("prosodyctl", "about"), capture_output=True,
                               text=True, timeout=60, stdin=subprocess.DEVNULL)
        first = about.stdout.splitlines()[0] if about.stdout else ""
        if about.returncode != 0 or not first.startswith("Prosody "):
            raise RuntimeError(f"prosodyctl about failed ({about.returncode}): "
                               f"{about.stdout}{about.stderr}")
        return first.removeprefix("Prosody ").strip()


def _tmp() -> Path:
    return Path(tempfile.gettempdir()).resolve()
