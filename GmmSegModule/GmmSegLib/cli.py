"""The ``gmmseg`` command: segment, adapt, evaluate, demo, bench and train.

User mistakes (missing or unreadable files, implausible images, bad devices, tampered models) end with
one line ``gmmseg: error: ...`` on stderr and exit code 2, never a traceback, and leave no partial outputs;
``segment`` does every input it can and exits 2 when some were refused. A file that cannot be read or written
for another reason (a full disk) ends the same way with exit code 1; out of memory with 3; SIGTERM (as
``timeout`` and schedulers send it) and Ctrl+C drop the case in progress whole and exit with 143 and 130.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .core.cpu_threads import CoreShare, threads_chosen_by_user
from .core.errors import GmmSegError
from .core.labels import CONVENTIONS
from .inference.shards import Shard

EXIT_SYSTEM_ERROR = 1  # a file could not be read or written although the command was right (disk full, ...)
EXIT_USER_ERROR = 2  # a mistake of the user's (for segment: some input was refused; the others were written)
EXIT_OUT_OF_MEMORY = 3
EXIT_TERMINATED = 143  # SIGTERM (128 + 15), as timeout and cluster schedulers send it: the case in flight dropped
OUT_OF_MEMORY = "out of memory; segment fewer frames at once or use a machine with more memory"


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl+C, so that files being written are removed on the way out."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def _segment(arguments: argparse.Namespace) -> int:
    """Every input of this process's shard it can; each failure in one line, and a summary line when some of
    several failed."""
    from .core.file_names import summary_file
    from .io.images import check_output_folder, distinct_stems
    from .model.phi import Phi
    from .model.registry import load_registered, unverified_warning

    shard = Shard.parse(arguments.shard)
    device = _device_of_this_rank(arguments.device)
    stems = distinct_stems(arguments.inputs)  # before reading any image: it needs the names only (of every shard)
    phi = Phi.parse(arguments.phi) if arguments.phi else None
    check_output_folder(arguments.out)
    cases = shard.mine(list(zip(arguments.inputs, stems, strict=True)))
    if shard.count > 1 or arguments.skip_done:
        todo = [
            (path, stem)
            for path, stem in cases
            if not (arguments.skip_done and (Path(arguments.out) / summary_file(stem)).is_file())
        ]
        print(
            json.dumps({"shard": str(shard), "inputs": len(cases), "done_already": len(cases) - len(todo)}), flush=True
        )
        cases = todo
    if not cases:
        return 0
    model, entry = load_registered(arguments.model)
    model.prepared_for_inference(device)
    model_warning = unverified_warning(entry)
    if model_warning:
        print(f"gmmseg: warning: {model_warning}", file=sys.stderr)
    failed: list[tuple[str, int]] = []
    cores = CoreShare() if device.type == "cpu" and not threads_chosen_by_user() else None
    for path, stem in cases:
        try:
            _segment_one(path, stem, arguments, model, entry, device, phi, cores)
        except GmmSegError as error:
            print(f"gmmseg: error: {error}", file=sys.stderr)
            failed.append((path, EXIT_USER_ERROR))
        except MemoryError:
            print(f"gmmseg: error: {path}: {OUT_OF_MEMORY}", file=sys.stderr)
            failed.append((path, EXIT_OUT_OF_MEMORY))
        except OSError as error:  # an output not written whole (io.images.OutputError names it), a file unreadable
            print(f"gmmseg: error: {error}", file=sys.stderr)
            failed.append((path, EXIT_SYSTEM_ERROR))
    if failed and len(cases) > 1:
        print(
            f"gmmseg: {len(failed)} of {len(cases)} inputs failed and have no outputs: "
            f"{', '.join(path for path, _ in failed)}",
            file=sys.stderr,
        )
    return max((code for _, code in failed), default=0)


def _device_of_this_rank(name: str):
    """The torch device for ``--device``; under a launcher with several processes on the machine (torchrun), each
    its own GPU, or on the CPU its own cores (GmmSegLib.inference.shards)."""
    import torch

    from .core.cpu_threads import usable_cpus
    from .core.device import resolve_device
    from .inference.shards import cores_of_local_rank, device_of_local_rank, local_rank

    device = resolve_device(device_of_local_rank(name, os.environ, torch.cuda.device_count()))
    if device.type == "cpu" and local_rank(os.environ)[1] > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores_of_local_rank(sorted(usable_cpus()), os.environ))
    return device


def _segment_one(
    path: str, stem: str, arguments: argparse.Namespace, model, entry, device, phi, cores: CoreShare | None
) -> None:
    """Read, check, segment and write one input (all its files or none); on the CPU, torch gets the cores other
    programs leave idle (``cores``), looked at again before each frame."""
    from .inference.case_files import write_case
    from .inference.case_run import segment_case
    from .io.images import read_cardiac_image
    from .training.events import Progress

    image = read_cardiac_image(path)
    location = _earlier_location(arguments.location, image.frames.shape) if arguments.location else None
    progress = Progress(image.num_frames, enabled=arguments.progress)

    def frame_done(done: int, frames: int) -> None:
        progress.step(stage="Segmenting", frame=done, frames=frames)
        if cores is not None:
            cores.give_torch_the_idle_cores()

    if cores is not None:
        cores.give_torch_the_idle_cores()
    result, summary = segment_case(
        image,
        model,
        entry,
        device,
        phi=phi,
        location=location,
        on_frame=frame_done,
        keep_probabilities=arguments.probabilities,
    )
    written = write_case(arguments.out, stem, image, result, summary, probabilities=arguments.probabilities)
    print(
        json.dumps(
            {
                "input": image.source,
                "outputs": [str(p) for p in written],
                "volumes_ml": result.volumes_ml[0] if image.num_frames == 1 else None,
                "mirrored_storage": bool(result.location.mirrored),
                "review_advised": summary.review_advised,
                "seconds": round(result.timings["total_s"], 3),
            }
        ),
        flush=True,
    )
    for warning in [*summary.review_reasons, summary.volume_caveat]:
        if warning:
            print(f"gmmseg: warning: {image.source}: {warning}", file=sys.stderr)


def _earlier_location(path: str, shape: tuple[int, ...]):
    """The heart where an earlier ``segment`` run found it (its JSON): a re-run with a moved prior keeps the crop."""
    from .clinical.case_summary import CaseSummary
    from .inference.localisation import HeartLocation

    summary = CaseSummary.read(path)
    return HeartLocation.of_summary(summary, shape, path)


def _evaluate(arguments: argparse.Namespace) -> int:
    from .evaluation.folders import evaluate_folders

    rows, summary = evaluate_folders(Path(arguments.pred), Path(arguments.gt), arguments.gt_labels)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0].keys()))
    writer.writeheader()
    writer.writerows(rows)
    if arguments.csv:
        from .io.images import AtomicOutputs

        target = Path(arguments.csv)
        with AtomicOutputs(target.parent) as outputs:
            outputs.add_bytes(target.name, table.getvalue().encode())
    else:
        sys.stdout.write(table.getvalue())
    print(json.dumps({"volumes": len(rows), "summary": summary}, indent=2))
    return 0


def _demo(arguments: argparse.Namespace) -> int:
    from .demo import run_demo

    report = run_demo(Path(arguments.out), arguments.device, arguments.model)
    print(json.dumps(report, indent=2))
    return 0


def _adapt(arguments: argparse.Namespace) -> int:
    from .training.adaptation import adapt

    return adapt(
        arguments.images,
        Path(arguments.out),
        arguments.model,
        arguments.epochs,
        arguments.steps_per_epoch,
        arguments.device,
        arguments.work,
    )


def _bench(arguments: argparse.Namespace) -> int:
    from .bench import run_benchmarks

    print(
        json.dumps(
            run_benchmarks(arguments.repeats, arguments.device, arguments.model, arguments.train_steps), indent=2
        )
    )
    return 0


def _report(arguments: argparse.Namespace) -> int:
    from .clinical.reader_choices import LIMIT_OPTIONS
    from .clinical.report import reader_choices, report_case

    optional = {
        k: Path(v) if v else None
        for k, v in (
            ("segmentation", arguments.segmentation),
            ("ed", arguments.ed),
            ("es", arguments.es),
            ("out", arguments.out),
        )
    }
    limits = {key: getattr(arguments, option[2:].replace("-", "_")) for key, option in LIMIT_OPTIONS.items()}
    choices = reader_choices(arguments.ed_frame, arguments.es_frame, limits, arguments.exclude_slice)
    report = report_case(**optional, convention=arguments.labels, choices=choices)
    print(json.dumps(report, indent=2))
    for warning in report["warnings"]:
        print(f"gmmseg: warning: {warning}", file=sys.stderr)
    return 0


def _train(arguments: argparse.Namespace) -> int:
    from .training.trainer import main as train_main

    trainer_arguments = arguments.trainer_arguments
    return train_main(trainer_arguments[1:] if trainer_arguments[:1] == ["--"] else trainer_arguments)


def count(text: str) -> int:
    """An option counting epochs, steps or repeats: a whole number of 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gmmseg", description="GmmSeg cardiac MRI segmentation (LV, MYO, RV) with Dirichlet uncertainty."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (
        _segment_command,
        _adapt_command,
        _evaluate_command,
        _demo_command,
        _bench_command,
        _report_command,
        _serve_command,
        _train_command,
    ):
        add_command(commands)
    return parser


def _model_and_device(command: argparse.ArgumentParser, model: str, device: str = "auto") -> None:
    command.add_argument("--model", default=None, help=f"{model} (default: the shipped model)")
    command.add_argument("--device", default=device, help=f"auto, cpu, cuda or mps (default: {device})")


def _segment_command(commands) -> None:
    segment = commands.add_parser("segment", help="segment 3D stacks or 4D cines", fromfile_prefix_chars="@")
    segment.add_argument("inputs", nargs="+", help="NIfTI / NRRD files or DICOM series folders")
    segment.add_argument("--out", required=True, help="output folder")
    _model_and_device(segment, "model checkpoint")
    segment.add_argument(
        "--phi",
        help="place the prior yourself instead of the registration net: "
        "SCALE,TX_MM,TY_MM,ROTATION_DEG (canonical crop, as in the JSON's phi)",
    )
    segment.add_argument(
        "--location",
        help="the <stem>.json of an earlier segment run of the same image: keep the "
        "heart where that run found it (a re-run with --phi)",
    )
    segment.add_argument(
        "--probabilities",
        action="store_true",
        help="also write <stem>_probabilities.nii.gz (class probabilities, for click refinement)",
    )
    segment.add_argument(
        "--shard",
        default="auto",
        help="segment only every COUNT-th input from INDEX on (INDEX/COUNT, e.g. 0/4), to share a "
        "cohort among processes; auto (default): torchrun's RANK/WORLD_SIZE or a Slurm job "
        "array's task when there is one, else every input. @FILE reads the inputs (one per "
        "line) from FILE",
    )
    segment.add_argument(
        "--skip-done",
        action="store_true",
        help="leave out the inputs whose <stem>.json is in --out already (a re-run of a cohort)",
    )
    segment.add_argument(
        "--progress",
        action="store_true",
        help='a JSON line per frame segmented on stdout ({"event": "progress", "frame": 7, '
        '"frames": 20, "eta_s": ...}), for the Slicer module',
    )
    segment.set_defaults(run=_segment)


def _adapt_command(commands) -> None:
    from .training.config import ADAPT_EPOCHS, ADAPT_STEPS_PER_EPOCH

    adapt = commands.add_parser("adapt", help="label-free adaptation of the model to your images")
    adapt.add_argument("images", nargs="+", help="unlabelled images of the new site/scanner")
    adapt.add_argument("--out", required=True, help="new checkpoint (.pt); a .json description is written beside")
    _model_and_device(adapt, "starting model")
    adapt.add_argument("--epochs", type=count, default=ADAPT_EPOCHS)
    adapt.add_argument("--steps-per-epoch", type=count, default=ADAPT_STEPS_PER_EPOCH)
    adapt.add_argument("--work", default=None, help="resumable state folder (default: <out>.work)")
    adapt.set_defaults(run=_adapt)


def _evaluate_command(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="Dice and HD95 per structure against ground truth")
    evaluate.add_argument("--pred", required=True, help="folder of <stem>_seg.nii.gz predictions")
    evaluate.add_argument("--gt", required=True, help="folder of ground-truth label maps")
    evaluate.add_argument(
        "--gt-labels",
        default="product",
        choices=sorted(CONVENTIONS),
        help="ground-truth convention: product (1 LV, 2 MYO, 3 RV) or acdc (1 RV, 2 MYO, 3 LV)",
    )
    evaluate.add_argument("--csv", default=None, help="write the per-volume table here instead of stdout")
    evaluate.set_defaults(run=_evaluate)


def _demo_command(commands) -> None:
    demo = commands.add_parser("demo", help="segment a generated beating-heart phantom and draw the result")
    demo.add_argument("--out", default="gmmseg_demo", help="output folder (default: ./gmmseg_demo)")
    _model_and_device(demo, "model checkpoint")
    demo.set_defaults(run=_demo)


def _serve_command(commands) -> None:
    serve = commands.add_parser("serve", help="review in a web browser: the web app on a folder of images")
    serve.add_argument("folder", help="the folder whose images the app may open (nothing outside it)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this computer only)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free one)")
    serve.add_argument("--token", help="the token browsers must give; required with a --host other computers reach")
    serve.add_argument("--device", default="auto", help="the jobs' device: auto, cpu, cuda or mps (default: auto)")
    serve.add_argument("--session", action="store_true", help=argparse.SUPPRESS)  # one browser's web app process
    serve.set_defaults(run=_serve)


def _serve(arguments: argparse.Namespace) -> int:
    from .web.serve import serve, serve_session

    if arguments.session:
        return serve_session(arguments.folder, arguments.host, arguments.token, arguments.device)
    return serve(arguments.folder, arguments.host, arguments.port, arguments.token, arguments.device)


def _bench_command(commands) -> None:
    bench = commands.add_parser("bench", help="speed and memory on this machine")
    bench.add_argument("--repeats", type=count, default=7)
    bench.add_argument("--train-steps", type=count, default=5)
    _model_and_device(bench, "model checkpoint", device="cpu")
    bench.set_defaults(run=_bench)


def _report_command(commands) -> None:
    report = commands.add_parser("report", help="clinical indices (EDV, ESV, SV, EF, LV mass) and volume curves")
    report.add_argument("segmentation", nargs="?", help="<stem>_seg.nii.gz of a 4D cine")
    report.add_argument("--ed", help="3D segmentation at end-diastole (with --es)")
    report.add_argument("--es", help="3D segmentation at end-systole (with --ed)")
    report.add_argument("--out", help="output folder (default: next to the segmentation)")
    report.add_argument(
        "--labels",
        default="product",
        choices=sorted(CONVENTIONS),
        help="label convention of the segmentation(s): product (1 LV, 2 MYO, 3 RV; what segment "
        "writes) or acdc (1 RV, 2 MYO, 3 LV)",
    )
    confirm = report.add_argument_group("the reader's choices (default: the model's; the record names each)")
    confirm.add_argument("--ed-frame", type=int, help="end-diastolic frame of a cine (0 = the first)")
    confirm.add_argument("--es-frame", type=int, help="end-systolic frame of a cine")
    from .clinical.reader_choices import LIMIT_OPTIONS

    for key, option in LIMIT_OPTIONS.items():
        confirm.add_argument(
            option, metavar="FIRST-LAST", help=f"slices counted for the {key} volume, e.g. 1-9 (0 = the first slice)"
        )
    confirm.add_argument(
        "--exclude-slice",
        action="append",
        default=[],
        metavar="PHASE:SLICE",
        help="a slice counted for no structure at ED or ES, e.g. ES:0 (repeat for more)",
    )
    report.set_defaults(run=_report)


def _train_command(commands) -> None:
    train = commands.add_parser(
        "train", help="the headless trainer (same as scripted_training/train.py)", add_help=False
    )
    train.add_argument("trainer_arguments", nargs=argparse.REMAINDER)
    train.set_defaults(run=_train)


class _WarningLine(logging.Handler):
    """The library's warnings (logger ``gmmseg``) as one ``gmmseg: warning: ...`` line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"gmmseg: warning: {record.getMessage()}", file=sys.stderr)


def show_warnings_on_stderr() -> None:
    """Print the library's warnings (logger ``gmmseg``) as ``gmmseg: warning:`` lines, once per process."""
    logger = logging.getLogger("gmmseg")
    if not any(isinstance(handler, _WarningLine) for handler in logger.handlers):
        logger.addHandler(_WarningLine(logging.WARNING))
        logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    show_warnings_on_stderr()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:  # argparse's REMAINDER drops options that follow a sub-command; pass them whole
        argv = ["train", "--", *argv[1:]]
    arguments = build_parser().parse_args(argv)
    if arguments.command != "train" and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)  # the trainer handles SIGTERM itself (stops at the next step)
    try:
        return arguments.run(arguments)
    except GmmSegError as error:
        print(f"gmmseg: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as error:  # outputs are written atomically, so none is left half-written
        print(f"gmmseg: error: {error}", file=sys.stderr)
        return EXIT_SYSTEM_ERROR
    except MemoryError:
        print(f"gmmseg: error: {OUT_OF_MEMORY}", file=sys.stderr)
        return EXIT_OUT_OF_MEMORY
    except KeyboardInterrupt:
        print(
            "gmmseg: interrupted; a case being written was dropped whole (a case's files are published all "
            "together or not at all)",
            file=sys.stderr,
        )
        return 130
    except Terminated:
        print(
            "gmmseg: stopped (SIGTERM); a case being written was dropped whole (a case's files are published all "
            "together or not at all)",
            file=sys.stderr,
        )
        return EXIT_TERMINATED


if __name__ == "__main__":
    sys.exit(main())
