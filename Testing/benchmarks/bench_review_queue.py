"""Does the review queue find the errors, and does the stack flag find the failed stacks? On out-of-fold predictions.

    python Testing/benchmarks/bench_review_queue.py --predictions runs/oof_v7 runs/oof_v7_shifted [runs/oof_fold0 ...]

Reads the stored out-of-fold predictions (``Testing/benchmarks/oof_predictions.py``: labels, class probabilities,
expert labels) and prints JSON. The probabilities are taken as a result keeps them (1/255 steps:
GmmSegLib.core.probability_steps), as the product estimates from them. The estimator's constants
(``GmmSegLib.clinical.error_estimate``: the temperature, the basal weight, the stack flag's Dice threshold) are chosen
by 5-fold cross-validation over patients, every fold's constants fitted on the other folds' patients by the rules
below and applied to its own. Each model fold (the predictions of one model) is cross-validated on its own, as a
temperature is a property of one model's probabilities (the shipped model v7 is overconfident, the model of fold 0 is
not); its numbers are those of the held-out estimates. The rules,
on the training patients:
- temperature: the one on a grid (1.0 to 3.0 by 0.1) whose expected number of mislabelled pixels is closest to the
  actual number;
- basal weight: the one on a grid (1.0 to 6.0 by 0.5) whose queue (unsure pixels plus, where the predictions keep the
  quality check's second pass, the pixels it labels otherwise; the basal slice's weighted: review.slice_scores)
  removes the most mislabelled voxels at the top 20 % of slices (the smallest on ties);
- the stack's estimated Dice where the predictions keep the quality check's second pass: the least-squares fit of the
  actual mean Dice on the probabilities' estimate and the two passes' agreement (quality.pass_agreement;
  ReviewCalibration.checked_dice_weights); without the second pass, the probabilities' estimate alone;
- stack flag: a stack is flagged when its estimated Dice is below a threshold, the highest cut (between neighbouring
  stacks' values) that flags at most 10 % of the stacks with a mean Dice of 0.8 or more (the goal's false flags);
  or, where the predictions hold the second pass, when its unreliable share (GmmSegLib.clinical.quality, at the
  fitted temperature) is above a limit: midway between the largest share of a good stack and the next larger one,
  an alarm no good stack set off, for images the model plainly cannot read.
Predictions of the synthetic new scanner's images (``oof_predictions.py --shifted``) join those of the stored
images; a patient's stacks of both kinds are always in the same cross-validation fold, and the numbers are given
for each kind and for both together.
``--pooled`` fits one set on every model fold's predictions together, for a model trained on all the patients with
the folds' recipe (whose own probabilities have no held-out patients to be fitted on).
"constants_on_all" are the same rules applied to all of a model fold's predictions: fold 1's (model v7) are what
the product ships. "with_shipped_constants" applies those of the last fold given to every fold (how the shipped
constants do on another model's predictions).

"stack_flag" is the fitted flag; "product_flag" is a result's whole ``review_advised`` and its parts, where the
predictions hold the second pass (files from ``oof_predictions.py`` since it kept it): the fitted flag and the
plausibility findings and blank slices inside the heart, which have no constant fitted here.

Queue payoff: the share of all mislabelled voxels removed when the top 10/20/30 % of slices are replaced by the
expert's labels, for the new order (review.slice_scores), the old one, random (mean of 100
shuffles) and the oracle (most wrong voxels first). The old order is the mean total uncertainty of the slice's
heart; the stored predictions hold no uncertainty maps, so it is computed as the normalised entropy of the stored
class probabilities, which are the maps' posterior after the class-prior correction (an approximation of the
product's map, which is the entropy before the correction).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "GmmSegModule"))

from oof_predictions import load_predictions  # noqa: E402
from uncertainty_calibration import review_payoff  # noqa: E402

from GmmSegLib.clinical.error_estimate import ReviewCalibration, basal_slice, expected_errors  # noqa: E402
from GmmSegLib.clinical.plausibility import implausible_findings  # noqa: E402
from GmmSegLib.clinical.quality import (  # noqa: E402
    blank_slices_inside_heart,
    pass_agreement,
    slice_disagreement,
    unreliable_share,
)
from GmmSegLib.clinical.review import slice_mean_uncertainty  # noqa: E402
from GmmSegLib.core.labels import STRUCTURES  # noqa: E402
from GmmSegLib.core.probability_steps import as_kept  # noqa: E402

TEMPERATURES = np.round(np.arange(1.0, 3.01, 0.1), 2)
BASAL_WEIGHTS = np.arange(1.0, 6.01, 0.5)
FAILED_DICE = 0.8  # a stack whose mean Dice (LV, MYO, RV) is below this failed
FALSE_FLAGS = 0.1  # the share of good stacks the flag may flag (the goal's "at most 1 in 10")
OLD_STACK_SCORE = 0.09  # the flag before: median slice uncertainty of the stack above this
CV_FOLDS = 5


def stack_record(prediction) -> dict:
    """What the cross-validation needs of one stored stack, for every temperature on the grid."""
    # the probabilities as a result keeps them (1/255 steps), from which the product estimates
    labels, truth, probabilities = prediction.labels, prediction.truth, as_kept(prediction.probabilities)
    by_temperature = [expected_errors(probabilities, labels, t) for t in TEMPERATURES]
    second = prediction.second_pass
    # the queue's score before the basal weight (review.slice_scores): unsure pixels, plus the second pass's
    # disagreement where the prediction keeps it
    moved = 0.0 if second is None else slice_disagreement(labels, second).astype(np.float64)
    base = np.zeros(labels.shape[0], bool)
    if (at := basal_slice(labels)) is not None:
        base[at] = True
    entropy = -(probabilities * np.log(np.clip(probabilities, 1e-12, 1.0))).sum(0) / np.log(len(probabilities))
    old = slice_mean_uncertainty(entropy[None], labels[None])[0]
    present = old[(labels > 0).any(axis=(1, 2))]
    return {
        "case": prediction.case.case,
        "patient": prediction.case.case.split("_")[0],
        "fold": prediction.fold,
        "shifted": prediction.shifted,
        "wrong": (labels != truth).sum(axis=(1, 2)).astype(np.float64),
        "base": base,
        "expected": np.stack([e.wrong for e in by_temperature]),
        "queue_score": np.stack([e.unsure + moved for e in by_temperature]),
        "stack_dice": np.array([e.stack_dice() for e in by_temperature]),
        "dice": _mean_dice(labels, truth),
        "old_slice": old,
        "old_stack": float(np.median(present)) if present.size else 0.0,
        # the product's other review reasons: None where the stored prediction predates the second pass
        "unreliable_share": None
        if second is None
        else np.array([unreliable_share(labels, second, probabilities, t) for t in TEMPERATURES]),
        "agreement": None if second is None else pass_agreement(labels, second),
        "other_reasons": implausible_findings(labels[None], prediction.spacing_xyz)
        + [f"blank slice {z}" for z in blank_slices_inside_heart(list(prediction.blank_slices), labels[None])],
    }


def _mean_dice(labels: np.ndarray, truth: np.ndarray) -> float:
    scores = []
    for value in STRUCTURES.values():
        both = (labels == value).sum() + (truth == value).sum()
        scores.append(1.0 if both == 0 else 2.0 * ((labels == value) & (truth == value)).sum() / both)
    return float(np.mean(scores))


def fit(stacks: list[dict]) -> dict:
    """The estimator's constants by the module docstring's rules, from ``stacks``."""
    wrong = np.concatenate([s["wrong"] for s in stacks])
    base = np.concatenate([s["base"] for s in stacks])
    expected = np.concatenate([s["expected"] for s in stacks], axis=1)  # (temperatures, slices)
    index = int(np.argmin(np.abs(expected.sum(axis=1) - wrong.sum())))
    queue_score = np.concatenate([s["queue_score"][index] for s in stacks])
    payoffs = [
        review_payoff(queue_score * np.where(base, weight, 1.0), wrong, (0.2,))["top_20%"]["queue"]
        for weight in BASAL_WEIGHTS
    ]
    weight = BASAL_WEIGHTS[int(np.argmax(payoffs))]
    estimates = np.array([s["stack_dice"][index] for s in stacks])
    dice = np.array([s["dice"] for s in stacks])
    failed = dice < FAILED_DICE
    constants = {"temperature": float(TEMPERATURES[index]), "basal_weight": round(float(weight), 3)}
    if any(s["unreliable_share"] is None for s in stacks):
        return {**constants, "review_dice": _dice_threshold(estimates, failed)}
    agreements = np.array([s["agreement"] for s in stacks])
    design = np.column_stack([np.ones_like(estimates), estimates, agreements])
    weights = [round(float(w), 4) for w in np.linalg.lstsq(design, dice, rcond=None)[0]]
    calibration = ReviewCalibration(checked_dice_weights=tuple(weights))
    checked = np.array([calibration.checked_dice(e, a) for e, a in zip(estimates, agreements, strict=True)])
    shares = np.array([s["unreliable_share"][index] for s in stacks])
    return {
        **constants,
        "review_dice": _dice_threshold(checked, failed),
        "unreliable_share_limit": _share_alarm(shares, failed),
        "checked_dice_weights": weights,
    }


def _cuts(values: np.ndarray) -> np.ndarray:
    """Every distinct way to cut ``values``: below all, between neighbours, above all."""
    ordered = np.unique(values)
    return np.concatenate([[ordered[0] - 1e-3], (ordered[1:] + ordered[:-1]) / 2, [ordered[-1] + 1e-3]])


def _dice_threshold(estimates: np.ndarray, failed: np.ndarray) -> float:
    """Flag below the returned value: the highest cut between sorted estimates that flags at most ``FALSE_FLAGS``
    of the good stacks (flagging as many failed ones as such a cut can)."""
    good = max(int((~failed).sum()), 1)
    allowed = [cut for cut in _cuts(estimates) if ((estimates < cut) & ~failed).sum() <= FALSE_FLAGS * good]
    return round(float(max(allowed)), 4)


def _share_alarm(shares: np.ndarray, failed: np.ndarray) -> float:
    """The unreliable-share limit: midway between the largest share of a good stack and the next larger share."""
    largest_good = shares[~failed].max(initial=0.0)
    above = shares[shares > largest_good]
    return round(float((largest_good + above.min()) / 2 if above.size else largest_good + 1e-3), 4)


def _temperature_index(constants: dict) -> int:
    return int(np.flatnonzero(TEMPERATURES == constants["temperature"])[0])


def apply(stack: dict, constants: dict) -> tuple[np.ndarray, float]:
    """The queue's slice scores and the stack's estimated Dice of one stack under ``constants``."""
    index = _temperature_index(constants)
    scores = stack["queue_score"][index] * np.where(stack["base"], constants["basal_weight"], 1.0)
    estimate = float(stack["stack_dice"][index])
    if stack["agreement"] is None or "checked_dice_weights" not in constants:
        return scores, estimate
    calibration = ReviewCalibration(checked_dice_weights=tuple(constants["checked_dice_weights"]))
    return scores, calibration.checked_dice(estimate, stack["agreement"])


def _applied(stack: dict, constants: dict) -> dict:
    scores, dice = apply(stack, constants)
    low_dice = dice < constants["review_dice"]
    applied = {**stack, "scores": scores, "estimated_dice": dice, "low_dice": low_dice, "flagged": low_dice}
    if stack["unreliable_share"] is not None and "unreliable_share_limit" in constants:
        index = _temperature_index(constants)
        applied["unreliable"] = bool(stack["unreliable_share"][index] > constants["unreliable_share_limit"])
        applied["flagged"] = bool(low_dice or applied["unreliable"])
        applied["review_advised"] = bool(applied["flagged"] or stack["other_reasons"])
    return applied


def cross_validate(stacks: list[dict]) -> tuple[list[dict], list[dict]]:
    """Held-out slice scores and stack estimates for every stack; the constants each CV fold chose."""
    patients = sorted({s["patient"] for s in stacks})
    held_out, chosen = [], []
    for fold in range(CV_FOLDS):
        test = set(patients[fold::CV_FOLDS])
        constants = fit([s for s in stacks if s["patient"] not in test])
        chosen.append(constants)
        held_out += [_applied(stack, constants) for stack in stacks if stack["patient"] in test]
    return held_out, chosen


def report_by_kind(stacks: list[dict]) -> dict:
    """:func:`report` of the stored images' stacks, of the shifted ones, and of both together (where there are)."""
    kinds = {"clean": [s for s in stacks if not s["shifted"]], "shifted": [s for s in stacks if s["shifted"]]}
    result = {kind: report(members) for kind, members in kinds.items() if members}
    return {**result, "both": report(stacks)} if len(result) == 2 else result


def report(stacks: list[dict]) -> dict:
    """Queue payoff and stack flag of held-out estimates (one model fold)."""
    errors = np.concatenate([s["wrong"] for s in stacks])
    new = review_payoff(np.concatenate([s["scores"] for s in stacks]), errors)
    old = review_payoff(np.concatenate([s["old_slice"] for s in stacks]), errors)
    payoff = {
        top: {
            "new": round(new[top]["queue"], 3),
            "old": round(old[top]["queue"], 3),
            "random": round(new[top]["random"], 3),
            "oracle": round(new[top]["oracle"], 3),
            "new_over_oracle": round(new[top]["queue"] / new[top]["oracle"], 3),
        }
        for top in new
    }
    failed = [s for s in stacks if s["dice"] < FAILED_DICE]
    good = [s for s in stacks if s["dice"] >= FAILED_DICE]
    dice, estimated = np.array([s["dice"] for s in stacks]), np.array([s["estimated_dice"] for s in stacks])
    return {
        "stacks": len(stacks),
        "slices": int(errors.size),
        "wrong_voxels": int(errors.sum()),
        "queue_payoff": payoff,
        "stack_flag": {
            "failed_stacks": [f"{s['case']} ({s['dice']:.3f}, est. {s['estimated_dice']:.3f})" for s in failed],
            "failed_flagged": sum(s["flagged"] for s in failed),
            "good_stacks": len(good),
            "good_flagged": [
                f"{s['case']} ({s['dice']:.3f}, est. {s['estimated_dice']:.3f})" for s in good if s["flagged"]
            ],
            "old_flag_failed_flagged": sum(s["old_stack"] > OLD_STACK_SCORE for s in failed),
            "old_flag_good_flagged": sum(s["old_stack"] > OLD_STACK_SCORE for s in good),
        },
        **_product_flag(failed, good),
        "estimated_dice": {
            "mean_actual": round(float(dice.mean()), 3),
            "mean_estimated": round(float(estimated.mean()), 3),
            "mean_abs_error": round(float(np.abs(dice - estimated).mean()), 3),
            # None where either does not vary (no correlation to speak of)
            "correlation": round(float(np.corrcoef(dice, estimated)[0, 1]), 3)
            if dice.std() > 0 and estimated.std() > 0
            else None,
        },
    }


def _name(stack: dict) -> str:
    return f"{stack['case']} shifted" if stack["shifted"] else stack["case"]


def _product_flag(failed: list[dict], good: list[dict]) -> dict:
    """How the product's ``review_advised`` (every reason) and its parts flag failed and good stacks; {} when the
    predictions lack the second pass."""
    if any("review_advised" not in s for s in failed + good):
        return {}

    def counts(flag) -> dict:
        return {"failed_flagged": sum(bool(flag(s)) for s in failed), "good_flagged": sum(bool(flag(s)) for s in good)}

    return {
        "product_flag": {
            "review_advised": counts(lambda s: s["review_advised"]),
            "estimated_dice": counts(lambda s: s["low_dice"]),
            "unreliable_share": counts(lambda s: s["unreliable"]),
            "implausible_or_gap": counts(lambda s: s["other_reasons"]),
            "advised_failed": [_name(s) for s in failed if s["review_advised"]],
            "advised_good": [_name(s) for s in good if s["review_advised"]],
        }
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--predictions",
        nargs="+",
        required=True,
        metavar="DIR",
        help="folders written by Testing/benchmarks/oof_predictions.py (each with per_case/*.npz)",
    )
    parser.add_argument(
        "--pooled",
        action="store_true",
        help="fit one set of constants on every model fold's predictions together: those of a model trained on all "
        "the patients with the folds' recipe",
    )
    arguments = parser.parse_args()
    stacks = [stack_record(p) for folder in arguments.predictions for p in load_predictions(Path(folder))]
    if arguments.pooled:
        stacks = [{**stack, "fold": "pooled"} for stack in stacks]
    result = {
        "procedure": f"{CV_FOLDS}-fold cross-validation over the patients of each model fold (see the "
        "script's docstring for the fitting rules)",
        "per_model_fold": {},
    }
    shipped = {}
    for fold in sorted({s["fold"] for s in stacks}):
        members = [s for s in stacks if s["fold"] == fold]
        held_out, chosen = cross_validate(members)
        shipped = fit(members)
        result["per_model_fold"][str(fold)] = {
            "patients": len({s["patient"] for s in members}),
            "constants_per_cv_fold": chosen,
            "constants_on_all": shipped,
            **report_by_kind(held_out),
        }
    result["with_shipped_constants"] = {
        "constants": shipped,
        **{
            str(fold): report_by_kind([_applied(s, shipped) for s in stacks if s["fold"] == fold])
            for fold in sorted({s["fold"] for s in stacks})
        },
    }
    print(json.dumps(result, indent=2, default=int))
    return 0


if __name__ == "__main__":
    sys.exit(main())
