"""What one sync changed, in the shape the webhook payload reports."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AppliedChanges:
    created: list[str] = field(default_factory=list)  # evt_ ids
    updated: dict[str, list[str]] = field(default_factory=dict)  # evt_ id -> changed fields
    deleted: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deleted)

    def __bool__(self) -> bool:
        return self.count > 0

    def extend(self, other: AppliedChanges) -> None:
        self.created.extend(other.created)
        self.updated.update(other.updated)
        self.deleted.extend(other.deleted)
