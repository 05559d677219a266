"""``gmmseg`` end to end with the shipped model: outputs, geometry, accuracy on a phantom, user mistakes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import ROOT, gmmseg, write_dicom_series, write_ge_sform_nifti, write_image
from GmmSegLib.clinical.error_estimate import REVIEW_DICE
from GmmSegLib.clinical.indices import clinical_indices, scalar_indices
from GmmSegLib.core.errors import GmmSegError
from GmmSegLib.evaluation.folders import evaluate_pair
from GmmSegLib.io.phantom import make_cine_phantom
from GmmSegLib.model.registry import MODELS_ENV, models_dir, sha256_of


def gmmseg_here(capsys, *arguments: str) -> subprocess.CompletedProcess:
    """``gmmseg`` run by ``cli.main`` in this process: what it prints and returns for a user error is what the
    command does (its own process is tested through the launcher, test_jobs.py), without two seconds of Python and
    torch starting up per call. An exception main() lets out fails the test as a traceback would; the SIGTERM
    handler main() installs is put back."""
    import signal

    from GmmSegLib import cli

    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = cli.main([str(argument) for argument in arguments])
    except SystemExit as stop:  # argparse's refusals
        code = stop.code
    finally:
        signal.signal(signal.SIGTERM, previous)
    printed = capsys.readouterr()
    return subprocess.CompletedProcess(arguments, code, printed.out, printed.err)


@pytest.fixture(scope="module")
def segmented_volume(tmp_path_factory, phantom_files):
    out = tmp_path_factory.mktemp("segment_3d")
    result = gmmseg("segment", phantom_files["volume"], "--out", out, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout.splitlines()[-1])


def test_segment_writes_every_output_on_the_input_grid(segmented_volume, phantom_files):
    out, printed = segmented_volume
    stem = "phantom_ed"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            f"{stem}_seg.nii.gz",
            f"{stem}_uncertainty.nii.gz",
            f"{stem}_aleatoric.nii.gz",
            f"{stem}_epistemic.nii.gz",
            f"{stem}_prior.nii.gz",
            f"{stem}.json",
        ]
    )
    source = sitk.ReadImage(str(phantom_files["volume"]))
    for name in names:
        if name.endswith(".nii.gz"):
            image = sitk.ReadImage(str(out / name))
            assert image.GetSize() == source.GetSize()
            assert image.GetSpacing() == pytest.approx(source.GetSpacing())
            assert image.GetOrigin() == pytest.approx(source.GetOrigin())
            assert image.GetDirection() == pytest.approx(source.GetDirection())
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{stem}_seg.nii.gz")))
    assert set(np.unique(labels)) <= {0, 1, 2, 3}
    maps = {
        k: sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{stem}_{k}.nii.gz")))
        for k in ("uncertainty", "aleatoric", "epistemic")
    }
    for value in maps.values():
        assert value.min() >= 0 and value.max() <= 1
    np.testing.assert_allclose(maps["uncertainty"], maps["aleatoric"] + maps["epistemic"], atol=1e-4)
    prior = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{stem}_prior.nii.gz")))
    assert prior.shape[-1] == 4
    np.testing.assert_allclose(prior.sum(-1), 1.0, atol=1e-3)
    summary = json.loads((out / f"{stem}.json").read_text())
    assert summary["model"]["sha256"] and summary["model"]["verified"] and len(summary["phi"]) == 1
    assert set(summary["phi"][0]) >= {"scale", "tx_mm", "ty_mm", "rotation_deg"}
    assert len(summary["slice_uncertainty"][0]) == labels.shape[0]
    assert summary["blank_slices"] == []  # every phantom slice holds an image
    voxel_ml = np.prod(source.GetSpacing()) / 1000
    assert summary["volumes_ml"][0]["LV"] == pytest.approx((labels == 1).sum() * voxel_ml)
    assert printed["volumes_ml"] == summary["volumes_ml"][0]


def test_segment_says_whether_the_result_needs_a_review_as_a_whole(segmented_volume):
    out, printed = segmented_volume
    summary = json.loads((out / "phantom_ed.json").read_text())
    assert printed["review_advised"] is False and summary["review_advised"] is False
    assert len(summary["estimated_dice"]) == 1 and REVIEW_DICE < summary["estimated_dice"][0] < 1.0


def test_the_files_written_read_back_as_the_result_the_module_shows(segmented_volume, tmp_path):
    """The module's route: ``gmmseg segment``'s files -> ``CaseResult.read``, on the input's grid, frame axis first;
    a file missing from them is named."""
    from GmmSegLib.inference.case_result import CaseResult

    out, _ = segmented_volume
    result = CaseResult.read(out, "phantom_ed")
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "phantom_ed_seg.nii.gz")))
    np.testing.assert_array_equal(result.labels, labels[None])
    assert result.labels.dtype == np.uint8 and set(result.uncertainty) == {"total", "aleatoric", "epistemic"}
    assert all(
        values.shape == labels[None].shape and values.dtype == np.float32 for values in result.uncertainty.values()
    )
    assert result.prior.shape == (1, 4, *labels.shape) and result.summary.frames == 1
    incomplete = tmp_path / "incomplete"
    shutil.copytree(out, incomplete)
    (incomplete / "phantom_ed_epistemic.nii.gz").unlink()
    with pytest.raises(GmmSegError, match="phantom_ed_epistemic.nii.gz is missing"):
        CaseResult.read(incomplete, "phantom_ed")


def test_shipped_model_segments_the_phantom(segmented_volume, small_phantom, phantom_volume):
    out, _ = segmented_volume
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "phantom_ed_seg.nii.gz")))
    metrics = evaluate_pair(labels, small_phantom.labels[0], phantom_volume.spacing_xyz)
    assert metrics["LV_dice"] > 0.85
    assert metrics["MYO_dice"] > 0.7
    assert metrics["RV_dice"] > 0.7


@pytest.mark.slow
def test_segment_cine_gives_4d_outputs(tmp_path, phantom_files, small_phantom):
    result = gmmseg("segment", phantom_files["cine"], "--out", tmp_path, "--device", "cpu", "--progress")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    progress = [event for event in events if event.get("event") == "progress"]
    frames = small_phantom.image.num_frames
    assert [event["frame"] for event in progress] == list(range(1, frames + 1))  # one line per frame (--progress)
    assert all(event["frames"] == frames and event["eta_s"] >= 0 for event in progress) and "outputs" in events[-1]
    labels = sitk.ReadImage(str(tmp_path / "phantom_cine_seg.nii.gz"))
    assert labels.GetDimension() == 4 and labels.GetSize() == sitk.ReadImage(str(phantom_files["cine"])).GetSize()
    summary = json.loads((tmp_path / "phantom_cine.json").read_text())
    assert len(summary["volumes_ml"]) == small_phantom.image.num_frames
    lv = [frame["LV"] for frame in summary["volumes_ml"]]
    assert lv[0] > lv[small_phantom.es_frame]  # the LV empties in systole


def test_evaluate_reports_dice_and_hd95(tmp_path, segmented_volume, phantom_files):
    out, _ = segmented_volume
    truth = tmp_path / "truth"
    truth.mkdir()
    shutil.copy(phantom_files["labels"], truth / "phantom_ed_gt.nii.gz")
    table = tmp_path / "metrics.csv"
    result = gmmseg("evaluate", "--pred", out, "--gt", truth, "--csv", table)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert 0.7 < summary["mean_dice"] <= 1 and summary["LV_hd95"] >= 0
    header = table.read_text().splitlines()[0].split(",")
    assert {"case", "LV_dice", "LV_hd95", "MYO_dice", "RV_hd95", "spacing_mm"} <= set(header)


def _bad_inputs(folder: Path, phantom_volume) -> dict[str, tuple[list[str], str]]:
    frames = phantom_volume.frames[0]
    nan = frames.copy()
    nan[2, 40:60, 40:60] = np.nan
    labels_only = (frames > 500).astype(np.uint8)
    return {
        "missing": ([str(folder / "nothing_here.nii.gz")], "no such file"),
        "2d": ([str(write_image(folder / "slice.nii.gz", frames[3]))], "2D image"),
        # NRRD keeps NaN voxels; SimpleITK 2.5's NIfTI reader turns them into zeros before we can see them
        "nan": ([str(write_image(folder / "nan.nrrd", nan))], "NaN"),
        "constant": ([str(write_image(folder / "flat.nii.gz", np.zeros_like(frames)))], "constant"),
        "label map": ([str(write_image(folder / "labels.nii.gz", labels_only))], "label map"),
        "spacing": ([str(write_image(folder / "thin.nii.gz", frames, spacing=(1.5, 1.5, 0.2)))], "slice spacing"),
        "not an image": ([str(folder / "notes.nii.gz")], "not a readable image"),
        "folder without DICOM": ([str(folder)], "no DICOM series"),
        "DICOM with a missing slice": ([str(_dicom_without_a_slice(folder / "gap"))], "a slice is missing at"),
    }


def _dicom_without_a_slice(folder: Path) -> Path:
    """A DICOM stack one middle slice short: ITK alone prints a raw multi-line warning and reads it at one spacing."""
    files = write_dicom_series(folder, np.zeros((1, 6, 40, 48), np.int16))
    files[3].unlink()
    return folder


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "2d",
        "nan",
        "constant",
        "label map",
        "spacing",
        "not an image",
        "folder without DICOM",
        "DICOM with a missing slice",
    ],
)
def test_bad_inputs_give_one_line_errors_and_no_outputs(tmp_path, phantom_volume, case, capsys):
    (tmp_path / "notes.nii.gz").write_text("this is not an image")
    inputs, message = _bad_inputs(tmp_path, phantom_volume)[case]
    out = tmp_path / "out"
    result = gmmseg_here(capsys, "segment", *inputs, "--out", out, "--device", "cpu")
    assert result.returncode == 2
    assert result.stderr.startswith("gmmseg: error:") and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_a_batch_does_every_input_it_can_and_reports_each_failure(tmp_path, phantom_files, phantom_volume):
    """segment a b c with b unusable: a and c are written, b is named in one line and in the summary, exit 2."""
    from GmmSegLib.io.images import read_cardiac_image, to_sitk

    flat = tmp_path / "flat.nii.gz"  # a constant image: no heart, refused by the input checks
    sitk.WriteImage(
        to_sitk(np.full(phantom_volume.frames.shape[1:], 100.0, np.float32), phantom_volume.geometry), str(flat)
    )
    second = tmp_path / "second.nii.gz"
    shutil.copy(phantom_files["volume"], second)
    broken = tmp_path / "broken.nii.gz"  # a real file cut short: unreadable
    broken.write_bytes(second.read_bytes()[:2000])
    ge = write_ge_sform_nifti(tmp_path / "ge.nii", phantom_volume.frames[0])  # readable, with one warning
    out = tmp_path / "out"
    result = gmmseg(
        "segment", phantom_files["volume"], flat, tmp_path / "missing.nii.gz", broken, ge, second, "--out", out
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("gmmseg: error:")]
    assert [line.split(": ")[2].split("/")[-1] for line in errors] == ["flat.nii.gz", "missing.nii.gz", "broken.nii.gz"]
    [ge_line] = [line for line in result.stderr.splitlines() if "sform" in line]
    assert ge_line.startswith(f"gmmseg: warning: {ge}: ") and "sform made orthonormal" in ge_line
    assert "gmmseg: 3 of 6 inputs failed" in result.stderr and "Traceback" not in result.stderr
    written = {p.name for p in out.iterdir()}
    assert {"phantom_ed_seg.nii.gz", "second_seg.nii.gz", "ge_seg.nii.gz", "phantom_ed.json", "second.json"} <= written
    assert not any(name.startswith(("flat", "missing", "broken", ".")) for name in written)
    labels = sitk.ReadImage(str(out / "ge_seg.nii.gz"))  # on the grid the sform defines, as read
    read = read_cardiac_image(ge).geometry
    assert np.allclose(labels.GetDirection(), read.direction, atol=1e-6)
    assert np.allclose(labels.GetOrigin(), read.origin, atol=1e-3)


@pytest.mark.slow
def test_sigterm_while_a_case_is_written_drops_it_whole(tmp_path, phantom_files):
    """As timeout and schedulers stop a job: the case in flight leaves no file (hidden or not), or, stopped while
    its files were renamed into place, all of them; exit 143."""
    import os
    import signal
    import time

    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "GmmSegLib.cli",
        "segment",
        str(phantom_files["cine"]),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--probabilities",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT / "GmmSegModule", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen_partial = False
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if out.is_dir() and any(p.name.startswith(".partial-") for p in out.iterdir()):
            seen_partial = True
            break
        time.sleep(0.001)
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert seen_partial, "the case was written before it could be stopped"
    assert process.returncode == 143 and "stopped (SIGTERM)" in stderr and "Traceback" not in stderr
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    if left:  # the stop came while the case's files were renamed into place: then all of them were published
        whole = tmp_path / "whole"
        done = subprocess.run(
            command[:-4] + [str(whole), "--device", "cpu", "--probabilities"],
            capture_output=True,
            cwd=ROOT / "GmmSegModule",
            timeout=300,
        )
        assert done.returncode == 0 and left == sorted(p.name for p in whole.iterdir())


@pytest.mark.slow
def test_files_left_by_a_killed_writer_are_removed_by_the_next_one(tmp_path, phantom_files):
    import subprocess as sp

    out = tmp_path / "out"
    out.mkdir()
    gone = sp.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process id that no longer runs
    from GmmSegLib.io.images import writer_tag

    host = writer_tag().split(".", 1)[1]
    abandoned = out / f".partial-{gone.pid}.{host}-x1y2-phantom_ed_seg.nii.gz"
    from_before_hosts = out / f".partial-{gone.pid}-x1y2-phantom_ed_prior.nii.gz"  # older versions' names
    for partial in (abandoned, from_before_hosts):
        partial.write_bytes(b"half a file")
    alive = out / f".partial-{os.getpid()}.{host}-x1y2-other.nii.gz"  # a writer that still runs: left alone
    # another machine writing into the same shared folder (a cohort's ranks): its pid means nothing here
    elsewhere = out / f".partial-{gone.pid}.0000beef-x1y2-other.nii.gz"
    for partial in (alive, elsewhere):
        partial.write_bytes(b"being written")
    result = gmmseg("segment", phantom_files["volume"], "--out", out, "--device", "cpu")
    assert result.returncode == 0 and not abandoned.exists() and not from_before_hosts.exists()
    assert alive.exists() and elsewhere.exists()


def _with_file_size_limit(limit_bytes: int):
    """A child process as under ``ulimit -f``: writes past the limit fail with EFBIG (SIGXFSZ ignored, as
    Python has it)."""
    import resource
    import signal

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return limit


@pytest.mark.skipif(os.name == "nt", reason="file-size limits are POSIX")
@pytest.mark.slow
def test_outputs_cut_short_by_a_file_size_limit_are_not_published(tmp_path, phantom_files):
    """ITK's NIfTI writer prints a short write and returns: the case must fail whole, exit 1, in one line."""
    out = tmp_path / "out"
    out.mkdir()
    command = [
        sys.executable,
        "-m",
        "GmmSegLib.cli",
        "segment",
        str(phantom_files["volume"]),
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT / "GmmSegModule",
        timeout=900,
        preexec_fn=_with_file_size_limit(100 * 1024),
    )  # the labels fit, the maps do not
    errors = [line for line in result.stderr.splitlines() if line.startswith("gmmseg: error:")]
    assert result.returncode == 1, result.stderr
    assert len(errors) == 1 and "could not be written" in errors[0] and "ulimit -f" in errors[0], result.stderr
    assert '"outputs"' not in result.stdout and not any(out.iterdir())


def test_an_output_folder_removed_mid_batch_is_named_and_the_batch_goes_on(
    tmp_path, phantom_files, monkeypatch, capsys
):
    from GmmSegLib import cli
    from GmmSegLib.io.images import AtomicOutputs

    out = tmp_path / "out"
    second = tmp_path / "second.nii.gz"
    shutil.copy(phantom_files["volume"], second)
    add_image, removed = AtomicOutputs.add_image, []

    def removed_while_writing(outputs, name, image):
        if not removed:  # the user deletes the folder while the first case is being written
            shutil.rmtree(outputs.folder)
            removed.append(name)
        return add_image(outputs, name, image)

    monkeypatch.setattr(AtomicOutputs, "add_image", removed_while_writing)
    code = cli.main(["segment", str(phantom_files["volume"]), str(second), "--out", str(out), "--device", "cpu"])
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("gmmseg: error:")]
    assert code == 1 and len(errors) == 1, stderr
    assert f"{out}: the output folder was removed" in errors[0] and ".partial" not in errors[0]
    assert "gmmseg: 1 of 2 inputs failed" in stderr and "phantom_ed.nii.gz" in stderr.splitlines()[-1]
    assert {p.name for p in out.iterdir()} >= {"second_seg.nii.gz", "second.json"}
    assert not any(p.name.startswith(("phantom_ed", ".")) for p in out.iterdir())


@pytest.mark.slow
def test_a_stack_of_two_slices_gets_its_volumes_with_the_caveat_report_refuses_for(
    tmp_path, phantom_volume, segmented_volume
):
    """segment gave the volumes of 1- and 2-slice stacks as a heart's while report refuses them."""
    middle = phantom_volume.frames.shape[1] // 2
    write_image(
        tmp_path / "two.nii.gz", phantom_volume.frames[0, middle - 1 : middle + 1], spacing=phantom_volume.spacing_xyz
    )
    result = gmmseg("segment", tmp_path / "two.nii.gz", "--out", tmp_path / "out", "--device", "cpu")
    caveat = json.loads((tmp_path / "out" / "two.json").read_text())["volume_caveat"]
    assert result.returncode == 0 and caveat.startswith("the LV is in 2 slice(s): the volumes are those of the slices")
    assert f"gmmseg: warning: {tmp_path / 'two.nii.gz'}: {caveat}" in result.stderr.splitlines()
    out, _ = segmented_volume
    assert json.loads((out / "phantom_ed.json").read_text())["volume_caveat"] is None


def test_two_inputs_of_the_same_name_are_refused_before_any_work(tmp_path, phantom_files, capsys):
    other = tmp_path / "other_folder"
    other.mkdir()
    shutil.copy(phantom_files["volume"], other / phantom_files["volume"].name)
    result = gmmseg_here(
        capsys, "segment", phantom_files["volume"], other / phantom_files["volume"].name, "--out", tmp_path / "o"
    )
    assert result.returncode == 2 and "same file name (phantom_ed)" in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_an_output_folder_that_is_a_file_is_refused_before_any_work(tmp_path, phantom_files):
    occupied = tmp_path / "results"
    occupied.write_text("a file where the output folder should go")
    for command in (
        ["segment", phantom_files["volume"], "--out", occupied],
        ["segment", phantom_files["volume"], "--out", occupied / "case1"],
        ["adapt", phantom_files["volume"], "--out", occupied / "adapted.pt"],
    ):
        result = gmmseg(*command)
        assert result.returncode == 2 and "not a folder" in result.stderr, command
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert occupied.read_text() == "a file where the output folder should go"


@pytest.mark.slow
def test_unknown_or_absent_device_is_refused(tmp_path, phantom_files):
    result = gmmseg("segment", phantom_files["volume"], "--out", tmp_path / "o", "--device", "tpu")
    assert result.returncode == 2 and "unknown device" in result.stderr
    result = gmmseg("segment", phantom_files["volume"], "--out", tmp_path / "o", "--device", "cuda")
    import torch

    if not torch.cuda.is_available():
        assert result.returncode == 2 and "CUDA is not available" in result.stderr


def test_tampered_model_is_refused(tmp_path, phantom_files, capsys, monkeypatch):
    models = tmp_path / "models"
    shutil.copytree(models_dir(), models)
    weights = next(models.glob("*.pt"))
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    out = tmp_path / "out"
    monkeypatch.setenv(MODELS_ENV, str(models))
    result = gmmseg_here(capsys, "segment", phantom_files["volume"], "--out", out)
    assert result.returncode == 2 and "sha256" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_a_model_description_with_damaged_calibration_is_refused_before_any_work(
    tmp_path, phantom_files, capsys, monkeypatch
):
    """The numbers a model's entry carries for its results (end-systolic correction, review calibration) are checked
    before segmenting: a NaN or a missing weight is the model's error, said in one line, and nothing is written."""
    shipped = models_dir()
    for section, damage in (
        ("end_systolic_correction", {"lv_log_offset": float("nan")}),
        ("review_calibration", {"checked_dice_weights": None}),
    ):
        models = tmp_path / section
        shutil.copytree(shipped, models)
        registry = json.loads((models / "Models.json").read_text())
        for record in registry["models"]:
            record[section] = {**record.get(section, {}), **damage}
        (models / "Models.json").write_text(json.dumps(registry))
        monkeypatch.setenv(MODELS_ENV, str(models))
        out = tmp_path / f"out_{section}"
        result = gmmseg_here(capsys, "segment", phantom_files["volume"], "--out", out)
        assert result.returncode == 2 and section in result.stderr and "Traceback" not in result.stderr
        assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_a_model_no_registry_describes_is_used_with_a_warning_and_its_own_hash(tmp_path, phantom_files):
    loose = tmp_path / "colleague.pt"  # e.g. a checkpoint passed on by hand, with neither Models.json nor sidecar
    shutil.copy(next(models_dir().glob("*.pt")), loose)
    result = gmmseg("segment", phantom_files["volume"], "--out", tmp_path / "o", "--model", loose)
    assert result.returncode == 0, result.stderr
    assert "gmmseg: warning:" in result.stderr and "cannot be checked" in result.stderr
    model = json.loads((tmp_path / "o" / "phantom_ed.json").read_text())["model"]
    assert model == {"id": "colleague", "sha256": sha256_of(loose), "file": "colleague.pt", "verified": False}


def test_corrupt_model_file_is_refused(tmp_path, phantom_files, capsys):
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    result = gmmseg_here(capsys, "segment", phantom_files["volume"], "--out", tmp_path / "o", "--model", fake)
    assert result.returncode == 2 and "not a readable GmmSeg model" in result.stderr


@pytest.mark.slow
def test_demo_writes_outputs_and_a_picture(tmp_path):
    result = gmmseg("demo", "--out", tmp_path / "demo", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    picture = Path(report["picture"])
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for path in report["outputs"]:
        assert Path(path).is_file()
    assert report["dice_ed_es"]["LV"] > 0.85
    # the measured indices beside the phantom's truth, by the same code from its own labels at its true ED and ES
    measured = json.loads((tmp_path / "demo" / "phantom_cine.json").read_text())["clinical_indices"]
    phantom = make_cine_phantom()
    truth = clinical_indices(phantom.labels, phantom.image.spacing_xyz, 0, phantom.es_frame).to_dict()
    for shown, expected in ((report["indices"], measured), (report["true_indices"], truth)):
        assert shown == pytest.approx(scalar_indices(expected), abs=0.005)


@pytest.mark.slow
def test_segment_with_a_manual_prior_placement_and_probabilities(tmp_path, segmented_volume, phantom_files):
    """--phi re-runs the model with the clinician's prior; --probabilities adds what refinement needs."""
    out, _ = segmented_volume
    moved = tmp_path / "moved"
    result = gmmseg(
        "segment",
        phantom_files["volume"],
        "--out",
        moved,
        "--device",
        "cpu",
        "--phi",
        "1.5,25,-20,15",
        "--probabilities",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((moved / "phantom_ed.json").read_text())
    assert summary["phi"][0]["scale"] == pytest.approx(1.5, rel=1e-4)
    assert summary["phi"][0]["rotation_deg"] == pytest.approx(15.0, abs=1e-3)
    probabilities = sitk.ReadImage(str(moved / "phantom_ed_probabilities.nii.gz"))
    assert probabilities.GetNumberOfComponentsPerPixel() == 4
    sums = sitk.GetArrayFromImage(probabilities).sum(-1)
    assert np.allclose(sums, 1.0, atol=1e-3)
    before = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "phantom_ed_seg.nii.gz")))
    after = sitk.GetArrayFromImage(sitk.ReadImage(str(moved / "phantom_ed_seg.nii.gz")))
    assert (before != after).any()


@pytest.mark.parametrize(
    "phi,message", [("0,0,0,0", "scale must be positive"), ("1,2,3", "four numbers"), ("1,nan,0,0", "finite")]
)
def test_impossible_prior_placements_are_refused(tmp_path, phantom_files, phi, message, capsys):
    result = gmmseg_here(capsys, "segment", phantom_files["volume"], "--out", tmp_path / "o", "--phi", phi)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "command, message",
    [
        (["bench", "--repeats", "0"], "--repeats: must be 1 or more"),
        (["bench", "--train-steps", "-1"], "--train-steps: must be 1 or more"),
        (["adapt", "{tmp}/x.nii.gz", "--out", "{tmp}/a.pt", "--epochs", "0"], "--epochs: must be 1 or more"),
        (["adapt", "{tmp}/x.nii.gz", "--out", "{tmp}/a.pt", "--steps-per-epoch", "many"], "invalid count value"),
    ],
)
def test_impossible_counts_and_lengths_are_refused(tmp_path, command, message):
    result = gmmseg(*(part.format(tmp=tmp_path) for part in command))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # refused before anything was written


def _acdc(labels: np.ndarray) -> np.ndarray:
    """Product labels (1 LV, 2 MYO, 3 RV) written in ACDC's convention (1 RV, 2 MYO, 3 LV)."""
    return np.choose(labels, [0, 3, 2, 1]).astype(np.uint8)


@pytest.mark.slow
def test_report_reads_the_convention_it_is_told_and_warns_when_labels_look_like_another(tmp_path, small_phantom):
    from GmmSegLib.clinical.indices import clinical_indices
    from GmmSegLib.io.images import to_sitk

    image = small_phantom.image
    path = tmp_path / "cine_seg.nii.gz"
    sitk.WriteImage(to_sitk(_acdc(small_phantom.labels), image.geometry), str(path))
    truth = clinical_indices(small_phantom.labels, image.spacing_xyz).to_dict()
    guessed = gmmseg("report", path, "--out", tmp_path / "guessed")
    assert guessed.returncode == 0 and "look like another convention" in guessed.stderr
    told = gmmseg("report", path, "--labels", "acdc", "--out", tmp_path / "told")
    assert told.returncode == 0 and "convention" not in told.stderr, told.stderr
    reported = json.loads(told.stdout)["indices"]
    assert reported["lv_edv"] == pytest.approx(truth["lv_edv"], rel=1e-6)
    assert reported["rv_edv"] == pytest.approx(truth["rv_edv"], rel=1e-6)


def test_evaluate_warns_when_the_ground_truth_looks_like_another_convention(
    tmp_path, segmented_volume, small_phantom, phantom_volume
):
    from GmmSegLib.io.images import to_sitk

    out, _ = segmented_volume
    truth = tmp_path / "gt"
    truth.mkdir()
    sitk.WriteImage(
        to_sitk(_acdc(small_phantom.labels[0]), phantom_volume.geometry), str(truth / "phantom_ed_gt.nii.gz")
    )
    unsaid = gmmseg("evaluate", "--pred", out, "--gt", truth)
    assert unsaid.returncode == 0 and "look like another convention" in unsaid.stderr and "--gt-labels" in unsaid.stderr
    said = gmmseg("evaluate", "--pred", out, "--gt", truth, "--gt-labels", "acdc")
    assert said.returncode == 0 and "convention" not in said.stderr
    assert json.loads(said.stdout[said.stdout.index("{") :])["summary"]["LV_dice"] > 0.8


@pytest.mark.slow
def test_an_image_with_no_heart_is_refused_not_passed_silently(tmp_path, phantom_volume):
    """Pure noise on the phantom's grid passes the input checks; the localiser finds no heart in it, so nothing comes
    out and the user is told why (a result that finds no heart is flagged instead: test_plausibility.py)."""
    from GmmSegLib.io.images import to_sitk

    noise = np.random.default_rng(2).random(phantom_volume.frames.shape[1:]) * 500
    path = tmp_path / "noise.nii.gz"
    sitk.WriteImage(to_sitk(noise.astype(np.float32), phantom_volume.geometry), str(path))
    result = gmmseg("segment", path, "--out", tmp_path / "out", "--device", "cpu")
    assert result.returncode != 0
    assert f"gmmseg: error: {path}: no heart found; is this a short-axis cardiac MR image?" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_cine_that_cannot_fit_in_memory_is_refused_before_the_work(tmp_path, phantom_files, monkeypatch, capsys):
    from GmmSegLib import cli
    from GmmSegLib.inference import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 300 * 2**20)  # 300 MB free
    code = cli.main(["segment", str(phantom_files["cine"]), "--out", str(tmp_path / "out"), "--device", "cpu"])
    stderr = capsys.readouterr().err
    assert code == 2 and "needs about" in stderr and "0.3 GB are free" in stderr and "split the cine" in stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_memory_estimate_bounds_the_measured_peaks():
    """BENCHMARKS.md (gmmseg segment under /usr/bin/time -v): 1.06 GB at 6.2 M voxels, 1.67 GB at 11.1 M,
    6.8 GB at 78.6 M."""
    from GmmSegLib.inference.memory import segmentation_bytes

    for voxels, measured in ((6.2e6, 1.06e9), (11.06e6, 1.67e9), (78.6e6, 6.8e9)):
        assert measured <= segmentation_bytes(int(voxels)) <= 1.3 * measured


@pytest.mark.slow
def test_a_one_frame_cine_gives_one_frame_cine_outputs(tmp_path, small_phantom):
    """4D in, 4D out: ITK reads a 4D NIfTI with one frame as 3D; the outputs keep the time axis all the same."""
    import gzip
    import struct

    from GmmSegLib.io.images import to_sitk

    path = tmp_path / "one.nii.gz"
    sitk.WriteImage(to_sitk(small_phantom.image.frames[:1], small_phantom.image.geometry), str(path))
    result = gmmseg("segment", path, "--out", tmp_path / "out", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    for name in ("one_seg.nii.gz", "one_uncertainty.nii.gz"):
        with gzip.open(tmp_path / "out" / name) as stream:
            dims = struct.unpack("<8h", stream.read(56)[40:56])  # nifti1.h: dim[8] at byte 40
        assert dims[0] == 4 and dims[4] == 1, (name, dims)


@pytest.mark.slow
def test_a_rerun_with_a_moved_prior_keeps_the_heart_where_the_first_run_found_it(
    tmp_path, segmented_volume, phantom_files, small_phantom
):
    out, _ = segmented_volume
    first = json.loads((out / "phantom_ed.json").read_text())
    rerun = gmmseg(
        "segment",
        phantom_files["volume"],
        "--out",
        tmp_path / "rerun",
        "--device",
        "cpu",
        "--phi",
        "1.3,12,-8,10",
        "--location",
        out / "phantom_ed.json",
    )
    assert rerun.returncode == 0, rerun.stderr
    second = json.loads((tmp_path / "rerun" / "phantom_ed.json").read_text())
    assert second["canonical_frame"] == first["canonical_frame"]
    assert second["slice_positions"] == first["slice_positions"]
    assert second["phi"][0]["scale"] == pytest.approx(1.3, rel=1e-5)
    from GmmSegLib.io.images import to_sitk

    volume = small_phantom.image.frame_volume(0)
    fewer = tmp_path / "fewer_slices.nii.gz"  # another image: two slices fewer
    sitk.WriteImage(to_sitk(volume.frames[0, 1:-1], volume.geometry), str(fewer))
    other = gmmseg("segment", fewer, "--out", tmp_path / "other", "--location", out / "phantom_ed.json")
    assert other.returncode == 2 and "not this one" in other.stderr


@pytest.mark.slow
def test_bench_reports_the_networks_share_and_the_loaded_case():
    """``gmmseg bench`` in one short run: every figure there and consistent with the others."""
    from GmmSegLib.bench import run_benchmarks
    from GmmSegLib.inference.stage_clock import STAGES

    report = run_benchmarks(repeats=1, train_steps=1)
    end_to_end = report["volume_10_slices_end_to_end_s"]
    assert 0 < report["volume_10_slices_one_segmentation_pass_s"] < report["volume_10_slices_network_forward_s"]
    assert report["volume_10_slices_segmentation_passes"] >= 2  # the first frame and the quality check's second pass
    assert report["end_to_end_over_forward"] == pytest.approx(
        end_to_end / report["volume_10_slices_network_forward_s"], rel=0.01
    )
    for policy in ("all_threads", "idle_cores"):
        assert report[f"volume_10_slices_one_core_busy_{policy}_s"] > 0
        assert report[f"one_core_busy_over_quiet_{policy}"] == pytest.approx(
            report[f"volume_10_slices_one_core_busy_{policy}_s"] / end_to_end, rel=0.01
        )
    assert report["cine_20_frames_end_to_end_s"] > end_to_end and report["train_step_batch16_s"] > 0
    for measured in ("volume_10_slices", "cine_20_frames"):
        stages = report[f"{measured}_stages_s"]
        assert list(stages) == list(STAGES) and 0 < sum(stages.values()) <= report[f"{measured}_end_to_end_s"] * 1.5
