"""Training logs: metrics.csv, TensorBoard scalars and curves.png (matplotlib, Agg).

Columns of metrics.csv: step, epoch, stage, loss, acc, lr, samples_per_s (one row every
``runtime.log_every`` steps, averaged over those steps and over processes). On resume the rows
after the resumed step (written by the killed run) are dropped, so the file reads as one run.

Example::

    >>> log = MetricLogger("out", tensorboard=False)                    # doctest: +SKIP
    >>> log.log(step=10, epoch=0, stage="avc", loss=3.2, acc=0.1, lr=1e-3, samples_per_s=50)
    >>> log.close()                                                     # writes out/curves.png
"""
import csv
from pathlib import Path

COLUMNS = ("step", "epoch", "stage", "loss", "acc", "lr", "samples_per_s")


class MetricLogger:
    """Append metric rows to ``out_dir``/metrics.csv and TensorBoard; plot curves on close.

    ``enabled=False`` (ranks other than 0) makes every method a no-op. ``resume_step``: keep only
    the existing rows with step <= it.
    """

    def __init__(self, out_dir, enabled=True, tensorboard=True, resume_step=None):
        self.enabled = enabled
        self.out_dir = Path(out_dir)
        self.writer = None
        if not enabled:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.out_dir / "metrics.csv"
        rows = read_metrics(self.csv_path) if resume_step is not None else []
        rows = [r for r in rows if int(r["step"]) <= resume_step] if rows else []
        with open(self.csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, COLUMNS)
            w.writeheader()
            w.writerows(rows)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(self.out_dir / "tensorboard"),
                                        purge_step=None if resume_step is None
                                        else resume_step + 1)

    def log(self, **row):
        """One row (keys: COLUMNS); TensorBoard gets ``stage/loss``, ``stage/acc``, ...."""
        if not self.enabled:
            return
        with open(self.csv_path, "a", newline="") as f:
            csv.DictWriter(f, COLUMNS).writerow({k: row.get(k, "") for k in COLUMNS})
        if self.writer is not None:
            for key in ("loss", "acc", "lr", "samples_per_s"):
                self.writer.add_scalar(f"{row['stage']}/{key}", row[key], row["step"])

    def scalar(self, tag, value, step=0):
        """An extra TensorBoard scalar (e.g. evaluation accuracies)."""
        if self.enabled and self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def close(self):
        """Flush TensorBoard and write curves.png."""
        if not self.enabled:
            return
        if self.writer is not None:
            self.writer.close()
        plot_curves(self.csv_path, self.out_dir / "curves.png")


def read_metrics(path):
    """Rows of a metrics.csv as dicts of strings ([] when the file is absent)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_curves(csv_path, png_path):
    """Loss, accuracy and learning rate against step, one colour per stage."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(csv_path)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for stage in dict.fromkeys(r["stage"] for r in rows):
        sel = [r for r in rows if r["stage"] == stage]
        steps = [int(r["step"]) for r in sel]
        for ax, key in zip(axes, ("loss", "acc", "lr")):
            ax.plot(steps, [float(r[key]) for r in sel], label=stage)
    for ax, title in zip(axes, ("contrastive loss", "pretext accuracy", "learning rate")):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    if rows:
        axes[0].legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path
