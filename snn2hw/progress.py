"""Progress reporting: the library calls a Reporter; the CLI supplies one that draws rich bars."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, TypeVar

T = TypeVar("T")


class Reporter:
    """Silent by default (library and tests); subclasses draw bars and print epoch lines."""

    def iterate(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        yield from items

    def update(self, info: str) -> None:
        """Live text beside the current bar (e.g. running loss)."""

    def epoch(self, record: dict[str, Any]) -> None:
        pass

    def message(self, text: str) -> None:
        pass


class RichReporter(Reporter):
    """Transient per-epoch progress bar (batches, running loss) and one line per finished epoch."""

    def __init__(self, console=None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)

    def iterate(self, items, description, total=None):
        if not self.console.is_terminal:  # logs and pipes get the epoch lines only
            yield from items
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
            console=self.console, transient=True,
        ) as bar:
            self._info = ""
            task = bar.add_task(description, total=total, info="")
            for item in items:
                yield item
                bar.update(task, advance=1, info=getattr(self, "_info", ""))

    def update(self, info: str) -> None:
        self._info = info

    def epoch(self, record):
        skip = {"phase", "epoch", "epochs", "train_loss", "train_acc", "test_acc", "lr", "time_s"}
        terms = " ".join(f"{k} {v:.3f}" for k, v in record.items() if k not in skip)
        self.console.print(
            f"{record['phase']} {record['epoch']}/{record['epochs']} "
            f"loss {record['train_loss']:.3f}{f' ({terms})' if terms else ''} "
            f"acc {100 * record['train_acc']:.1f}%/{100 * record['test_acc']:.1f}% "
            f"{record['time_s']:.1f}s", highlight=False,
        )

    def message(self, text):
        self.console.print(text)
