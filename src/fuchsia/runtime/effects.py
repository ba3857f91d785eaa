"""What one component attempt writes to kv and artifacts, held until the attempt succeeds.

An attempt's kv writes and artifact rows are not stored while it runs: they are kept here,
and the driver commits them in the transition that records the attempt's success, under the
same owner fence (DESIGN §2: a node's effects and its completion are one step). A failed,
timed-out, cancelled or interrupted attempt, or one whose transition is refused, leaves
nothing visible; its retry starts from what is stored. The attempt itself sees its own writes
first: `kv_get` answers from here before the store, and `artifact` finds an artifact it put.

An artifact's blob is stored at once (`Store.put_blob`): it is content-addressed and nothing
names it until its row is committed, and `Store.sweep_blobs` deletes the ones an attempt
that never succeeded left behind. The bytes kept and stored here count against
`Limits.side_effects`, each kv key and each artifact `ROW` bytes more (what its row and the
engine's bookkeeping of it cost, whatever its own bytes: an empty one is not free, so their
number is bounded too): the write that goes over fails the attempt with `LimitExceeded`.
"""

from __future__ import annotations

from fuchsia.runtime.limits import LimitExceeded, size_text
from fuchsia.store.records import ArtifactRef, KvChanges, PendingArtifact

ROW = 1024  # bytes each kv key and each artifact counts beside its own


def execution_scope(execution_id: str) -> str:
    """The kv scope of an execution's component attempts."""
    return f"execution:{execution_id}"


class SideEffects:
    """One attempt's kv writes (None: deleted) and artifacts, and the bytes they hold."""

    def __init__(self, scope: str, cap: int) -> None:
        self.kv = KvChanges(scope)
        self.artifacts: list[PendingArtifact] = []
        self.cap = cap
        self.size = 0
        self.exceeded: LimitExceeded | None = None  # the first write over the cap
        self._kv_sizes: dict[str, int] = {}

    def kv_get(self, key: str) -> tuple[bool, str | None]:
        """(True, value) for a key this attempt wrote (None: it deleted it); (False, None)
        for one the store answers."""
        if key in self.kv.changes:
            return True, self.kv.changes[key]
        return False, None

    def kv_set(self, key: str, value: str | None) -> None:
        """Keep a write (None: a delete); a key written again counts only its last value."""
        size = ROW + len(key.encode()) + (0 if value is None else len(value.encode()))
        self._count(size - self._kv_sizes.get(key, 0), "a kv write")
        self._kv_sizes[key] = size
        self.kv.changes[key] = value

    def reserve(self, name: str, content_type: str, size: int) -> None:
        """Count an artifact about to be stored; refused over the cap (its blob is not
        stored then)."""
        self._count(ROW + len(name.encode()) + len(content_type.encode()) + size, "an artifact")

    def add_artifact(self, artifact: PendingArtifact) -> None:
        self.artifacts.append(artifact)

    def artifact(self, artifact_id: str) -> ArtifactRef | None:
        for pending in self.artifacts:
            if pending.ref.id == artifact_id:
                return pending.ref
        return None

    def _count(self, size: int, what: str) -> None:
        if self.exceeded is not None:
            raise self.exceeded
        if self.size + size > self.cap:
            self.exceeded = LimitExceeded(
                f"{what} takes the attempt's kv writes and artifacts to "
                f"{size_text(self.size + size)}, over the side-effects cap of "
                f"{size_text(self.cap)} (limits.side_effects)"
            )
            raise self.exceeded
        self.size += size
