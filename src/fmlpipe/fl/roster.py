"""Who each client is: the architecture of its personalized model (``models``: model
heterogeneity) and the task it learns (``tasks``: objective heterogeneity), resolved once per
run against the data. A task relabels the dataset's classes; every model a client trains has its
task's number of classes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from fmlpipe.config import Params
from fmlpipe.config.schema import FULL_TASK
from fmlpipe.errors import ParamsError
from fmlpipe.fl.modelpool import GLOBAL, LOCAL, ModelKey
from fmlpipe.models.registry import MODELS


@dataclass(frozen=True)
class Roster:
    global_arch: str
    local_archs: tuple[str, ...]  # per client
    tasks: tuple[str, ...]  # per client
    classes: Mapping[str, int]  # task -> number of its labels
    luts: Mapping[str, torch.Tensor] = field(default_factory=dict)  # task -> label per dataset class; not for full
    private_heads: bool = False  # the shared model's head stays with each client (tasks differ)

    @classmethod
    def uniform(cls, global_arch: str, local_arch: str, num_clients: int, num_classes: int) -> Roster:
        """Every client: the same local architecture, the dataset's own labels."""
        return cls(global_arch, (local_arch,) * num_clients, (FULL_TASK,) * num_clients, {FULL_TASK: num_classes})

    @classmethod
    def from_params(cls, params: Params, num_clients: int, num_classes: int, device: torch.device,
                    shared_model: bool, private_heads: bool = False) -> Roster:
        """Fails with one line on a label map that does not fit the dataset or an override for a
        client that does not exist. ``shared_model``: the algorithm aggregates a global model
        (its head is then kept per client when tasks differ, or always with ``private_heads``)."""
        models, tasks = params.models, params.tasks
        for key, overrides in (("models.local_overrides", models.local_overrides),
                               ("tasks.overrides", tasks.overrides)):
            bad = [cid for cid in overrides if not 0 <= cid < num_clients]
            if bad:
                raise ParamsError(f"{key}: client {bad[0]} does not exist (clients are 0..{num_clients - 1}, "
                                  "partition.num_clients)")
        luts = {}
        for name, labels in tasks.label_maps.items():
            if len(labels) != num_classes:
                raise ParamsError(f"tasks.label_maps.{name} has {len(labels)} labels but the dataset has "
                                  f"{num_classes} classes (one label per dataset class)")
            luts[name] = torch.tensor(labels, dtype=torch.int64, device=device)
        classes = {FULL_TASK: num_classes, **{name: max(labels) + 1 for name, labels in tasks.label_maps.items()}}
        learned = tuple(tasks.task_for(c) for c in range(num_clients))
        return cls(models.global_, tuple(models.local_for(c) for c in range(num_clients)), learned, classes, luts,
                   private_heads=shared_model and (private_heads or set(learned) != {FULL_TASK}))

    @property
    def num_clients(self) -> int:
        return len(self.tasks)

    @property
    def mixed(self) -> str | None:
        """Why clients' models differ in shape (None when they do not)."""
        if len(set(self.local_archs)) > 1:
            return "models.local_cycle/local_overrides give clients different local architectures"
        if set(self.tasks) != {FULL_TASK}:
            return "tasks give clients different label sets"
        return None

    @property
    def task_names(self) -> list[str]:
        """The tasks some client learns, sorted."""
        return sorted(set(self.tasks))

    @property
    def headline_task(self) -> str:
        """The task the run's ``acc_global_test`` reports: ``full`` when some client learns
        it, else the first task alphabetically."""
        names = self.task_names
        return FULL_TASK if FULL_TASK in names else names[0]

    @property
    def head_prefix(self) -> str:
        """State-dict prefix of the shared architecture's output layer."""
        return MODELS[self.global_arch].head_prefix

    def key(self, role: str, cid: int) -> ModelKey:
        """Client ``cid``'s model of ``role`` (GLOBAL: the shared architecture; LOCAL: its own)."""
        arch = self.local_archs[cid] if role == LOCAL else self.global_arch
        return ModelKey(role, arch, self.classes[self.tasks[cid]])

    def global_key(self, task: str) -> ModelKey:
        return ModelKey(GLOBAL, self.global_arch, self.classes[task])

    def relabel(self, y: torch.Tensor, task: str) -> torch.Tensor:
        """Dataset labels ``y`` as labels of ``task`` (``y`` itself for ``full``)."""
        return self.luts[task][y] if task in self.luts else y

    def clients_of(self, task: str) -> list[int]:
        return [cid for cid, t in enumerate(self.tasks) if t == task]

    def cohorts(self) -> dict[tuple[ModelKey, str], list[int]]:
        """Clients by (own model, task), in client order: the clients whose personal states
        stack together and share labels."""
        out: dict[tuple[ModelKey, str], list[int]] = {}
        for cid in range(self.num_clients):
            out.setdefault((self.key(LOCAL, cid), self.tasks[cid]), []).append(cid)
        return out
