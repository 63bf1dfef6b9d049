"""The shipped models and the `nsnet-study` command, as a user meets them: each subcommand, each bad input, checkpoint
verification, and that each shipped model's card matches its file."""
import json
import os
import shutil
import subprocess
import sys
import warnings
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import ROOT, SHARED_DATA

SHIPPED = ROOT / "nsnet_study" / "shipped"
DECLAN = SHARED_DATA / "realfake_pairs_declan" / "images"
RANKING = SHARED_DATA / "cnndetection_ranking"
needs_data = pytest.mark.skipif(not DECLAN.is_dir(), reason="needs ../shared/data")


def nsnet_study(*args, cwd=None):
    "Run the console script as a user would; (exit status, stdout, stderr)."
    script = Path(sys.executable).with_name("nsnet-study")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "nsnet_study.cli"]
    done = subprocess.run(command + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=900)
    return done.returncode, done.stdout, done.stderr


def in_process(*args):
    """The same command run by `nsnet_study.cli.main` in this process: (exit status, stdout, stderr). A fresh process
    pays about 3 s to import torch and transformers before it does anything; the console script itself is exercised by
    the bad-inputs test, the help of every subcommand and the Python API test, which run it as a user would."""
    from contextlib import redirect_stderr, redirect_stdout
    from nsnet_study.cli import main
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status = main([str(a) for a in args])
        except SystemExit as exit:  # argparse's usage errors
            status = exit.code
    return status, out.getvalue(), err.getvalue()


def sha256(path):
    import hashlib
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["default", "linear_probe", "original_corrected", "advanced_corrected"])
def test_shipped_model_card_matches_its_file(name):
    "Each shipped model's card (read through the ModelCard schema, whatever its version) says what it trained on and measured."
    from nsnet_study.data import manifest_sha256
    from nsnet_study.results import ModelCard, StudyResults
    raw = json.loads((SHIPPED / f"{name}.json").read_text())
    card = ModelCard.from_dict(raw["card"])
    assert raw["weights_sha256"] == sha256(SHIPPED / f"{name}.safetensors")
    assert card.bank_sha256 == sha256(SHIPPED / "bank.safetensors")
    assert json.loads((SHIPPED / "bank.json").read_text())["weights_sha256"] == card.bank_sha256
    trained_on = card.trained_on.datasets  # the data sets it trained on (the validation ones chose)
    assert "cnndetection-ranking" in trained_on and trained_on == {n: manifest_sha256(n) for n in trained_on}
    assert set(card.data_licences) >= set(trained_on) and "non-commercial" in card.licence_note
    assert card.abstention["band"][0] <= 0.5 <= card.abstention["band"][1] and 0 < card.held_out.coverage.mean <= 1
    assert card.reference_sha256 == sha256(SHIPPED / f"{card.reference}.safetensors")
    assert card.held_out.ap.low <= card.held_out.ap.mean <= card.held_out.ap.high
    assert 0 < raw["threshold"] < 1 and card.encoder == "clip-vit-b16-offline"
    settings = StudyResults.read(ROOT / "results", "16_shipped_models").settings
    assert settings[f"candidate of {name}"] == card.candidate
    budget = card.abstention["budget"]  # the false-positive budget its threshold keeps, read from the reference photos it keeps
    assert (budget["fpr"], budget["confidence"], budget["photos"]) == (settings["fpr_budget"], settings["budget_confidence"], len(budget["real_scores"]))
    assert raw["threshold"] >= budget["threshold"] and "false-positive budget" in card.notes
    kept = card.held_out.fpr_reference
    assert kept.low <= kept.mean <= kept.high and card.held_out.fpr_budget == budget["fpr"]


def test_shipped_default_keeps_its_budget_on_photos_that_did_not_set_it():
    "Study 16 scores the shipped default as detect does on the half of imagenet-samples that never set its threshold."
    from nsnet_study.checkpoints import load_model
    from nsnet_study.results import StudyResults
    from nsnet_study.scoring import threshold_at_fpr
    results = StudyResults.read(ROOT / "results", "16_shipped_models")
    kept = results.estimates_where(method="default", variant="shipped", metric="fpr",
                                   condition="reference photos (measuring half), model as shipped").iloc[0]
    assert kept.value <= results.settings["fpr_budget"] and kept.low <= kept.value <= kept.high
    model = load_model("default")  # --target-fpr at the budget lets through the same reference photos as the shipped threshold
    real = model.abstention.calibration(np.array(model.abstention.budget["real_scores"]))
    at_budget = float(model.abstention.calibration(model.abstention.budget["threshold"]))
    assert (real >= threshold_at_fpr(model, model.abstention.budget["fpr"])).sum() == (real >= at_budget).sum()


def test_shipped_models_are_small_and_load():
    from nsnet_study.defaults import SHIPPED_MODELS
    from nsnet_study.checkpoints import load_model
    assert sum(f.stat().st_size for f in SHIPPED.iterdir()) < 5e6
    for name in SHIPPED_MODELS:
        assert load_model(name).name == name


def test_tampered_or_foreign_checkpoint_is_refused(tmp_path):
    for file in SHIPPED.iterdir():
        shutil.copy(file, tmp_path / file.name)
    card = json.loads((tmp_path / "default.json").read_text())
    (tmp_path / "default.json").write_text(json.dumps({**card, "encoder_id": "clip-vit-b16-offline@other+weights"}))
    status, _, err = in_process("detect", RANKING / "LICENSE.txt", "--model", tmp_path / "default")
    assert status == 1 and err.startswith("nsnet-study: error:") and "Traceback" not in err
    data = bytearray((tmp_path / "linear_probe.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / "linear_probe.safetensors").write_bytes(bytes(data))
    status, _, err = in_process("detect", "x.jpg", "--model", tmp_path / "linear_probe")
    assert status == 1 and "corrupted or was modified" in err and err.count("\n") == 1


@needs_data
def test_detect_bad_inputs_are_rows_with_reasons(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.jpg").write_text("not an image")
    Image.new("L", (9000, 8000)).save(tmp_path / "huge.png")  # 72 megapixels: over the decoding cap
    shutil.copy(DECLAN / "B1.jpg", tmp_path / "photo.jpg")
    status, out, err = nsnet_study("detect", tmp_path / "photo.jpg", tmp_path / "notes.jpg", tmp_path / "huge.png",
                                   tmp_path / "empty", tmp_path / "gone.jpg", "--format", "csv", "--quiet", "--threshold", "0",
                                   "--no-abstain")
    assert status == 0, err
    table = pd.read_csv(StringIO(out), keep_default_na=False)
    reasons = dict(zip(table.path.map(lambda p: Path(p).name), table.reason.str.split(":").str[0]))
    assert reasons == {"photo.jpg": "", "notes.jpg": "not_an_image", "huge.png": "too_large", "empty": "empty_folder",
                       "gone.jpg": "missing"}
    assert 0 <= float(table.probability_ai[table.label != ""].iloc[0]) <= 1
    assert table.label[table.label != ""].tolist() == ["AI-generated"]  # --threshold 0, two labels: everything scored is AI
    assert (table.schema == 2).all()
    status, out, err = nsnet_study("detect", tmp_path / "empty", "--quiet")
    assert status == 1 and "no image could be scored" in err and "Traceback" not in err


@needs_data
def test_detect_python_api_one_image():
    code = f"import nsnet_study; print(nsnet_study.detect([{str(DECLAN / 'A1.jpg')!r}], progress=False).to_json())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    row = pd.read_json(StringIO(done.stdout.strip().splitlines()[-1])).iloc[0]
    assert row.label in ("AI-generated", "real", "uncertain") and row.caption and np.isfinite(row.distance)
    assert (row.reason != "") == (row.label == "uncertain")


@needs_data
def test_detect_formats_and_explain(tmp_path):
    status, out, err = in_process("detect", DECLAN / "A2.jpg", "--format", "json", "--explain", tmp_path / "why",
                                   "--model", "original_corrected", "--quiet")
    assert status == 0, err
    [row] = json.loads(out)
    assert row["schema"] == 2 and set(row) >= {"probability_ai", "label", "reason", "score", "distance"}
    assert Path(row["explanation"]).is_file() and Path(row["explanation"]).parent == tmp_path / "why"
    with Image.open(row["explanation"]) as picture:
        assert picture.width > 800


@needs_data
def test_train_then_detect_with_the_trained_model(tmp_path):
    data = tmp_path / "labelled"  # CNNDetection's layout, with the declan photos and fakes (no label-leaking frames)
    for generator, numbers in (("one", range(1, 5)), ("two", range(5, 9)), ("three", range(9, 13))):
        for prefix, folder in (("B", "0_real"), ("A", "1_fake")):
            (data / generator / folder).mkdir(parents=True)
            for number in numbers:
                shutil.copy(DECLAN / f"{prefix}{number}.jpg", data / generator / folder / f"{prefix}{number}.jpg")
    status, out, err = in_process("train", "--config", "linear_probe", "--data", data, "--out", tmp_path / "mine",
                                   "--view", "layer 8")
    assert status == 0, err
    assert "model written to" in out
    status, out, err = in_process("detect", data / "one", "--model", tmp_path / "mine", "--format", "csv", "--quiet")
    assert status == 0, err
    assert len(pd.read_csv(StringIO(out))) == 8
    card = json.loads((tmp_path / "mine" / "model.json").read_text())["card"]
    assert len(card["held_out_real_scores"]) == 4  # one generator of three held out: its four photos
    status, out, err = in_process("detect", data / "one", "--model", tmp_path / "mine", "--format", "csv", "--quiet",
                                   "--target-fpr", "0", "--no-abstain")
    assert status == 0, err
    assert set(pd.read_csv(StringIO(out)).label) <= {"AI-generated", "real"}
    status, _, err = in_process("detect", data / "one", "--model", tmp_path / "mine", "--target-fpr", "0.1", "--threshold", "0.5")
    assert status == 2 and "not allowed with argument" in err


@needs_data
def test_out_of_depth_images_are_uncertain_with_a_reason(tmp_path):
    "A flat colour field, rendered text and noise are nothing the shipped default was trained on: it says so."
    from PIL import ImageDraw
    rng = np.random.default_rng(0)
    Image.new("RGB", (320, 240), (40, 120, 200)).save(tmp_path / "flat.png")
    text = Image.new("RGB", (320, 240), "white")
    ImageDraw.Draw(text).multiline_text((10, 10), "Quarterly report\nRevenue up 4%\nCosts flat\n" * 3, fill="black")
    text.save(tmp_path / "text.png")
    Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(tmp_path / "noise.png")
    status, out, err = in_process("detect", tmp_path, "--format", "csv", "--quiet")
    assert status == 0, err
    table = pd.read_csv(StringIO(out), keep_default_na=False)
    assert table.label.tolist() == ["uncertain"] * 3, table[["path", "probability_ai", "label", "distance", "reason"]]
    assert table.reason.str.contains("unlike the training images|both labels plausible|disagree").all()
    status, out, err = in_process("detect", tmp_path, "--format", "csv", "--quiet", "--no-abstain")
    assert set(pd.read_csv(StringIO(out)).label) <= {"AI-generated", "real"}  # two labels; the same probabilities


@needs_data
def test_evaluate_on_a_labelled_folder_matches_the_study(tmp_path):
    "nsnet-study evaluate scores files as study 16 scored them with the shipped default (its per-file probabilities)."
    from nsnet_study.metrics import average_precision
    from nsnet_study.results import StudyResults
    rows = StudyResults.read(ROOT / "results", "16_shipped_models").estimates_where(
        method="default", variant="shipped", condition="realfake-pairs-declan on disk", metric="probability_ai")
    study = dict(zip(rows.fold, rows.value))  # the shipped default's probability of each file as on disk
    chosen = {"real": ["B1.jpg", "B2.jpg", "B3.jpg", "B4.jpg"], "fake": ["A1.jpg", "A2.jpg", "A3.jpg", "A4.jpg"]}
    for label, files in chosen.items():
        (tmp_path / label).mkdir()
        for name in files:
            shutil.copy(DECLAN / name, tmp_path / label / name)
    with warnings.catch_warnings():  # a warning would reach the user's terminal (an all-NaN interval at coverage 0 did)
        warnings.simplefilter("error", RuntimeWarning)
        status, out, err = in_process("evaluate", tmp_path, "--format", "json", "--quiet", "--n-boot", "200", "--target-fpr", "0.25")
    assert status == 0, err
    table = {row["metric"]: row for row in json.loads(out)}
    assert set(table) == {"ap", "chance_ap", "accuracy", "ece", "tpr_at_fpr", "coverage", "selective_accuracy"}
    assert table["chance_ap"]["value"] == 0.5  # four real, four AI-generated: a random score's AP
    status, out, _ = in_process("evaluate", tmp_path, "--quiet", "--n-boot", "50")
    assert status == 0 and "against chance 0.500" in out
    expected = average_precision(np.repeat([0, 1], 4), [study[n] for n in chosen["real"] + chosen["fake"]])
    assert abs(table["ap"]["value"] - expected) < 1e-4 and table["ap"]["low"] <= table["ap"]["value"] <= table["ap"]["high"]
    status, _, err = in_process("evaluate", tmp_path / "real", "--quiet")
    assert status == 1 and ("labelled real and AI-generated" in err or "layout" in err) and "Traceback" not in err


def test_every_subcommand_has_help(tmp_path):
    for command in ([], ["detect"], ["evaluate"], ["train"], ["extract"], ["data"], ["reproduce"]):
        status, out, _ = nsnet_study(*command, "--help")
        assert status == 0 and "usage" in out.lower(), command
    status, _, err = nsnet_study("reproduce", cwd=tmp_path)
    assert status == 1 and "checkout" in err and err.count("\n") == 1
    status, _, err = nsnet_study("train", "--config", "knn", "--data", tmp_path, "--out", tmp_path)
    assert status == 2 and "invalid choice" in err


def _labelled_folder(root: Path, per_class: int, classes=("real", "fake")) -> Path:
    "A user's folder real/ + fake/ of cnndetection-ranking pictures (frames cropped, as PNG), per_class of each."
    from nsnet_study.data import load_shared_dataset, open_record
    for label in classes:
        (root / label).mkdir(parents=True)
        for record in [r for r in load_shared_dataset("cnndetection-ranking") if r.label == label][:per_class]:
            open_record(record).save(root / label / f"{record.path.stem}.png")
    return root


@needs_data
def test_adapt_writes_a_model_that_detect_and_evaluate_load(tmp_path):
    "nsnet-study adapt on 10 + 10 labelled images: 7 of each adapted on, 3 kept aside; the new model is a model like any other."
    mine = _labelled_folder(tmp_path / "mine", 10)
    (mine / "fake" / "broken.jpg").write_bytes(b"not a picture")  # listed with its reason, the rest adapts
    status, out, err = in_process("adapt", mine, "--out", tmp_path / "adapted", "--quiet")
    assert status == 0, err
    assert "adapted on 7 real and 7 AI-generated images (calibration only)" in out and "broken.jpg" in err
    status, out, err = in_process("detect", DECLAN / "A20.jpg", "--model", tmp_path / "adapted", "--format", "json", "--quiet")
    assert status == 0 and json.loads(out)[0]["label"] in {"AI-generated", "real", "uncertain"}, err
    status, out, err = in_process("evaluate", mine, "--model", tmp_path / "adapted", "--quiet", "--n-boot", "20")
    assert status == 0 and "against chance" in out and "note: 14 of these images are ones the model was adapted on" in out, err
    from nsnet_study.checkpoints import load_model
    card = load_model(tmp_path / "adapted").card
    assert {k: card.adapted[k] for k in ("from", "images", "held_out", "probe_refitted")} == {
        "from": "default", "images": {"real": 7, "AI-generated": 7}, "held_out": {"real": 3, "AI-generated": 3}, "probe_refitted": False}
    assert card.data_licences == load_model("default").card.data_licences and card.held_out.images == 6
    assert len(card.adapted["kept_aside"]) == 6 and len(card.adapted["adapted_on_sha256"]) == 14


@needs_data
def test_adapt_says_in_one_line_why_it_cannot(tmp_path):
    "One class, too few images, a model it cannot refit, an output folder that exists: one line each, no traceback."
    cases = [(_labelled_folder(tmp_path / "one", 10, ("real",)), [], "real and AI-generated"),
             (_labelled_folder(tmp_path / "few", 4), [], "images of each class to adapt on"),
             (_labelled_folder(tmp_path / "many", 16), ["--model", "original_corrected", "--refit", "probe"], "only a linear probe"),
             (tmp_path / "many", [], "exists")]
    (tmp_path / "new-exists").mkdir()
    for data, extra, says in cases:
        out = tmp_path / ("new-exists" if says == "exists" else "new")
        status, _, err = in_process("adapt", data, "--out", out, "--quiet", *extra)
        assert status == 1 and says in err and err.count("\n") == 1 and "Traceback" not in err, (says, err)
