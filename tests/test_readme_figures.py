"""Every figure in README.md (and in the model cards) against the file it comes from.

Sources: ``checkpoints/<name>/config.json`` (what a shipped model measures), the cards beside them,
``benchmarks/results/*.json`` (benchmark runs), ``benchmarks/published.py`` and the published M4 table of
``benchmarks/nbeats_m4.py`` (published numbers), and zoo itself for LoRA parameter counts. A README figure
must equal its source at the printed precision (``f"{value:.{decimals}f}"``); "about X" must lie within
the range of the source values. Tables are parsed row by row, so a new row is checked too: a row whose
source the test does not know fails and says where to add it. Every decimal figure in a checked cell must
be matched by a check, so a figure added to a cell cannot slip through unchecked.
"""

from __future__ import annotations

import ast
import json
import re
import statistics
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from benchmarks.published import PUBLISHED

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RESULTS = REPO / "benchmarks" / "results"
CHECKPOINTS = REPO / "checkpoints"

FIG = r"\d{1,3}(?:,\d{3})+|\d+\.\d+"  # a figure: a decimal or a thousands-separated integer
NUM = rf"{FIG}|\d+"

# The 3-seed benchmark row a shipped model's reference quotes: (results file stem, row name).
BENCHMARK_OF = {
    "dlinear.etth1": ("etth1_linear", "dlinear"),
    "rlinear.etth1": ("etth1_linear", "rlinear"),
    "itransformer.etth1": ("etth1_tokens", "itransformer"),
    "patchtst.etth1": ("etth1_tokens", "patchtst"),
    "lstm.etth1": ("etth1_rnn", "lstm"),
    "gru.etth1": ("etth1_rnn", "gru"),
    "tcn.etth1": ("etth1_tcn", "tcn"),
    "nbeats.etth1": ("etth1_nbeats", "nbeats"),
    "transformer.etth1": ("etth1_transformer_h96", "transformer_sinusoidal_revin_hw"),
    "informer.etth1": ("etth1_informer_h96", "informer_revin"),
}
# ETTh1 results table: row label -> (results file stem, row name), or ("published", model) for published.py.
ETTH1_ROWS = {
    "naive (Repeat)": ("etth1_naive", "naive"),
    "published Repeat (Zeng et al. 2023, Table 2)": ("published", "naive"),
    "dlinear (moving-average trend, kernel 25; CPU)": ("etth1_linear", "dlinear"),
    "nlinear (CPU)": ("etth1_linear", "nlinear"),
    "rlinear (RevIN + linear; CPU)": ("etth1_linear", "rlinear"),
    "published DLinear (iTransformer Table 10)": ("published", "dlinear"),
    "published RLinear (iTransformer Table 10)": ("published", "rlinear"),
    "lstm (RevIN + highway)": ("etth1_rnn", "lstm"),
    "gru (RevIN + highway)": ("etth1_rnn", "gru"),
    "tcn (RevIN + highway, 32 channels, 5 levels)": ("etth1_tcn", "tcn"),
    "nbeats (generic, 10 x 256, channel-independent, RevIN; CPU)": ("etth1_nbeats", "nbeats"),
    "lstm, plain (no RevIN, no highway, dropout 0.1)": ("etth1_rnn_ablation", "lstm_plain"),
    "published LSTMa (Informer, tuned lookback)": ("published", "lstm"),
    "transformer, sinusoidal (width 64, CPU)": ("etth1_transformer_h96", "transformer_sinusoidal"),
    "transformer, alibi": ("etth1_transformer_h96", "transformer_alibi"),
    "transformer, sinusoidal, RevIN + highway": ("etth1_transformer_h96", "transformer_sinusoidal_revin_hw"),
    "informer (width 64, CPU)": ("etth1_informer_h96", "informer"),
    "published Informer (Zeng et al. 2023, Table 2)": ("published", "informer"),
    "patchtst (patches 16/8, d_model 64, RevIN + highway; CPU)": ("etth1_tokens", "patchtst"),
    "itransformer (variate tokens, d_model 128; CPU)": ("etth1_tokens", "itransformer"),
    "published PatchTST (iTransformer Table 10)": ("published", "patchtst"),
    "published iTransformer (iTransformer Table 10)": ("published", "itransformer"),
}
# M4 table: row label (before its parenthesis) -> ensemble in m4_<freq>_nbeats.json, or published method.
M4_ENSEMBLES = {
    "N-BEATS-G ensemble": "generic (median)",
    "N-BEATS-I ensemble": "interpretable (median)",
    "N-BEATS-I+G ensemble": "generic + interpretable (median)",
}
M4_PUBLISHED_ROWS = {
    "published N-BEATS-I+G": "N-BEATS-I+G ensemble",
    "published Smyl ES-RNN": "Smyl ES-RNN",
    "Naive2": "Naive2",
}


# ----------------------------------------------------------------------------------------------- helpers


def ran_on_cpu(device: str) -> bool:
    """Whether a results row's ``device`` is a CPU: "cpu" in older files, the CPU model name in newer
    ones (``benchmarks.environment.device_name``), a GPU's name otherwise."""
    return device == "cpu" or not any(gpu in device for gpu in ("NVIDIA", "Tesla", "Radeon", "Instinct"))


def printed(value: float, text: str) -> str:
    """``value`` at the precision of the printed ``text`` (thousands separators kept if it has them)."""
    plain = text.replace(",", "")
    decimals = len(plain.split(".")[1]) if "." in plain else 0
    return f"{value:,.{decimals}f}" if "," in text else f"{value:.{decimals}f}"


@dataclass
class Figures:
    """Collects mismatches, each naming the README (or card) line, the printed figure and the source."""

    problems: list[str] = field(default_factory=list)

    def check(self, where: str, what: str, text: str, value: float | None, source: str) -> None:
        if value is None:
            self.problems.append(f"{where}: {what}: prints {text}, but {source} has no such value")
        elif printed(value, text) != text:
            self.problems.append(
                f"{where}: {what}: prints {text}, {source} = {value!r} (i.e. {printed(value, text)})"
            )

    def check_about(self, where: str, what: str, text: str, values: list[float], source: str) -> None:
        low, high = printed(min(values), text), printed(max(values), text)
        if not float(low) <= float(text) <= float(high):
            self.problems.append(f"{where}: {what}: 'about {text}', but {source} ranges {low}-{high}")

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def assert_none(self) -> None:
        problems = list(dict.fromkeys(self.problems))  # one pattern and another may find the same figure
        assert not problems, "\n" + "\n".join(problems)


@dataclass
class Cell:
    """A table cell or a sentence: figures are taken out of it by pattern; what is left is unchecked."""

    text: str
    where: str
    taken: list[tuple[int, int]] = field(default_factory=list)

    def take(self, pattern: str) -> list[re.Match[str]]:
        matches = list(re.finditer(pattern, self.text))
        for match in matches:
            self.taken += [match.span(g) for g in range(1, match.re.groups + 1) if match.group(g)]
        return matches

    def unchecked(self) -> list[str]:
        return [
            m.group()
            for m in re.finditer(FIG, self.text)
            if not any(a <= m.start() and m.end() <= b for a, b in self.taken)
        ]


@cache
def readme() -> str:
    return README.read_text()


def line_of(text: str, index: int, name: str = "README.md") -> str:
    return f"{name}:{text.count(chr(10), 0, index) + 1}"


def sentence(pattern: str) -> tuple[re.Match[str], str]:
    """The README passage matching ``pattern`` (spaces in it match any whitespace, line breaks too)."""
    match = re.search(pattern.replace(" ", r"\s+"), readme())
    assert match, f"README.md: no passage matches {pattern!r} (reworded? update this test)"
    return match, line_of(readme(), match.start())


def table(header: str) -> list[tuple[str, list[str]]]:
    """(``README.md:<line>``, cells) of every row of the README table whose header row is ``header``."""
    lines = readme().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == header), None)
    assert start is not None, f"README.md: no table with the header {header!r}"
    rows = []
    for number in range(start + 2, len(lines)):
        if not lines[number].startswith("|"):
            break
        rows.append((f"README.md:{number + 1}", [c.strip() for c in lines[number].strip()[1:-1].split("|")]))
    return rows


def unbold(text: str) -> str:
    return text.replace("**", "")


@cache
def results(stem: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"{stem}.json").read_text())


@cache
def shipped() -> tuple[str, ...]:
    return tuple(json.loads((CHECKPOINTS / "manifest.json").read_text())["models"])


@cache
def config(name: str) -> dict[str, Any]:
    return json.loads((CHECKPOINTS / name / "config.json").read_text())


@cache
def published_m4() -> dict[str, list[tuple]]:
    """``PUBLISHED_M4`` of benchmarks/nbeats_m4.py, read without importing it (it imports Lightning)."""
    tree = ast.parse((REPO / "benchmarks" / "nbeats_m4.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "PUBLISHED_M4":
            return ast.literal_eval(node.value)
    raise AssertionError("benchmarks/nbeats_m4.py: PUBLISHED_M4 not found")


def published_m4_row(frequency: str, method: str) -> tuple | None:
    return next((row for row in published_m4()[frequency] if row[0].startswith(method)), None)


def benchmark_rows(stem: str, name: str, horizon: int) -> list[dict[str, Any]]:
    return [r for r in results(stem)["results"] if r["name"] == name and r["horizon"] == horizon]


def mean_std(rows: list[dict[str, Any]], key: str) -> tuple[float, float | None]:
    values = [r["metrics"][key] for r in rows]
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None


def generative_row(config_path: str) -> dict[str, Any] | None:
    return next((r for r in results("generative_mnist")["rows"] if r["config"] == config_path), None)


def training_config(name: str) -> str:
    return re.search(r"--config (\S+)", config(name)["training_command"]).group(1)


@cache
def lora_counts(name: str, **lora: Any) -> tuple[int, int]:
    """(trainable, all) parameters of shipped ``name`` with a LoRA adapter, as benchmarks/lora_transfer.py."""
    import zoo
    from zoo.adapters import LoraConfig, get_lora_model
    from zoo.adapters.lora import trainable_parameters

    model = zoo.create_model(name, pretrained=True)
    return trainable_parameters(get_lora_model(getattr(model, "net", model), LoraConfig(**lora)))


# ---------------------------------------------------------------------------- shipped models and cards


def check_reference(figures: Figures, cell: Cell, name: str) -> None:
    """The reference figures quoted beside a shipped model (README table or its card's Reference line)."""
    record = config(name)
    args, data = record["model_args"], record["preprocessing"]
    for match in cell.take(rf"({FIG}) ± ({FIG})"):
        if name not in BENCHMARK_OF:
            figures.fail(cell.where, f"{name}: quotes {match.group()}; add its benchmark row to BENCHMARK_OF")
            continue
        stem, row = BENCHMARK_OF[name]
        rows = benchmark_rows(stem, row, args["pred_len"])
        mean, std = mean_std(rows, "test/mse") if rows else (None, None)
        source = f"benchmarks/results/{stem}.json {row} h{args['pred_len']} test/mse"
        figures.check(cell.where, f"{name} benchmark mean", match.group(1), mean, source)
        figures.check(cell.where, f"{name} benchmark std", match.group(2), std, source + " (sample std)")
        if "GPU" in cell.text and any(r["device"] == "cpu" for r in rows):
            figures.fail(cell.where, f"{name}: says GPU, but {source} ran on the CPU")
    for match in cell.take(rf"published (\w+)\D*?({FIG})"):
        entry = PUBLISHED.get((match.group(1).lower(), data["dataset"], args["pred_len"]))
        source = f"benchmarks/published.py {(match.group(1).lower(), data['dataset'], args['pred_len'])}"
        figures.check(cell.where, f"{name} published", match.group(2), entry and entry.mse, source)
    frequency = data["dataset"].removeprefix("M4-")
    for pattern, method in ((rf"I\+G ensemble ({FIG})", "N-BEATS-I+G"), (rf"M4 winner\D*?({FIG})", "Smyl")):
        for match in cell.take(pattern):
            row = published_m4_row(frequency, method)
            source = f"benchmarks/nbeats_m4.py PUBLISHED_M4[{frequency!r}] {method}"
            figures.check(cell.where, f"{name} published sMAPE", match.group(1), row and row[1], source)
    for match in cell.take(rf"best single model of that benchmark: ({FIG})"):
        members = results(f"m4_{frequency.lower()}_nbeats")["members"]
        best = min(m["metrics"]["test/smape"] for m in members)
        source = f"benchmarks/results/m4_{frequency.lower()}_nbeats.json min member test/smape"
        figures.check(cell.where, f"{name} best single model", match.group(1), best, source)
    if record["task"] == "generative":
        row = generative_row(training_config(name)) or {}
        source = f"benchmarks/results/generative_mnist.json {training_config(name)}"
        for match in cell.take(rf"(?:Burda|Jang) et al\.[^;]*?({FIG})"):
            figures.check(cell.where, f"{name} published", match.group(1), row.get("published"), source)
        for key, pattern in (
            ("test_nll_iwae", rf"NLL at fit time: ({FIG})"),
            ("test_neg_elbo", rf"fit time: ({FIG}) exact"),
            ("test_neg_elbo_relaxed", rf"({FIG}) relaxed"),
        ):
            for match in cell.take(pattern):
                figures.check(
                    cell.where, f"{name} at fit time", match.group(1), row.get(key), f"{source} {key}"
                )


def test_pretrained_table_figures_come_from_the_shipped_configs() -> None:
    figures = Figures()
    rows = table("| name | data | test metric | reference |")
    names = [cells[0].strip("`") for _, cells in rows]
    if sorted(names) != sorted(shipped()):
        figures.fail(
            "README.md pretrained table", f"lists {names}, checkpoints/manifest.json {list(shipped())}"
        )
    labels = {
        "MSE": "test/mse",
        "MAE": "test/mae",
        "sMAPE": "test/smape",
        "MASE": "test/mase",
        "OWA": "test/owa",
        "coverage": "test/coverage",
        "CRPS": "test/crps",
    }
    for where, (name_cell, data_cell, metric_cell, reference_cell) in rows:
        name = name_cell.strip("`")
        if name not in shipped():
            figures.fail(where, f"{name} is not a shipped model (checkpoints/manifest.json)")
            continue
        record, source = config(name), f"checkpoints/{name}/config.json"
        args, data, metrics = record["model_args"], record["preprocessing"], record["metrics"]
        # data column: the dataset and, for forecasters, the window
        normal = re.sub(r"[-_]", " ", data_cell.lower())
        if re.sub(r"[-_]", " ", data["dataset"].lower()) not in normal:
            figures.fail(where, f"{name}: data {data_cell!r}, {source} dataset {data['dataset']!r}")
        for match in re.finditer(r"(\d+)->(\d+)", data_cell):
            figures.check(where, f"{name} lookback", match.group(1), args["seq_len"], source)
            figures.check(where, f"{name} horizon", match.group(2), args["pred_len"], source)
        for match in re.finditer(r"lookback (\d+)", data_cell):
            figures.check(where, f"{name} lookback", match.group(1), args["seq_len"], source)
        for word in ("dynamic", "static"):
            if word in data_cell and data.get("binarize") != word:
                figures.fail(where, f"{name}: says {word}, {source} binarize={data.get('binarize')!r}")
        # test metric column
        cell = Cell(unbold(metric_cell), where)
        for label, key in labels.items():
            for match in cell.take(rf"\b{label} ({FIG})"):
                figures.check(where, f"{name} {key}", match.group(1), metrics.get(key), f"{source} metrics")
        for pattern, key in (
            (rf"neg\. ELBO ({FIG})", "test/neg_elbo"),
            (rf"({FIG}) exact", "test/neg_elbo"),
            (rf"({FIG}) relaxed", "test/neg_elbo_relaxed"),
        ):
            for match in cell.take(pattern):
                figures.check(where, f"{name} {key}", match.group(1), metrics.get(key), f"{source} metrics")
        if record["task"] == "generative":
            row = generative_row(training_config(name)) or {}
            for match in cell.take(rf"IWAE NLL ({FIG}) at fit time"):
                figures.check(
                    where,
                    f"{name} IWAE NLL",
                    match.group(1),
                    row.get("test_nll_iwae"),
                    "generative_mnist.json",
                )
        if not cell.taken:
            figures.fail(where, f"{name}: no test metric recognised in {metric_cell!r}")
        reference = Cell(unbold(reference_cell), where)
        check_reference(figures, reference, name)
        for checked in (cell, reference):
            for figure in checked.unchecked():
                figures.fail(where, f"{name}: figure {figure} has no known source (extend this test)")
    # the sentences around the table
    words = {9: "nine", 10: "ten", 11: "eleven", 12: "twelve", 13: "thirteen", 14: "fourteen"}
    count = words.get(len(shipped()), str(len(shipped())))
    for pattern in (r"and (\w+) shipped pretrained models", r"(\w+) models ship in `checkpoints/`"):
        match, where = sentence(pattern)
        if match.group(1).lower() != count:
            figures.fail(
                where, f"says {match.group(1)} shipped models, checkpoints/manifest.json has {count}"
            )
    match, where = sentence(
        r"`zoo.conversion.evaluate_pretrained` \(seed (\d+)\) and "
        r"`tests/test_shipped_pretrained.py` reproduces them to (\S+);"
    )
    shipped_test = (REPO / "tests" / "test_shipped_pretrained.py").read_text()
    if f"seed={match.group(1)}" not in shipped_test or f"abs={match.group(2)}" not in shipped_test:
        figures.fail(where, "seed / tolerance differ from tests/test_shipped_pretrained.py")
    figures.assert_none()


def test_cards_and_index_agree_with_their_configs() -> None:
    from zoo.verbs import describe_data, headline_metric

    figures = Figures()
    index = (CHECKPOINTS / "README.md").read_text()
    for name in shipped():
        record, directory = config(name), CHECKPOINTS / name
        card_path = f"checkpoints/{name}/README.md"
        card = (directory / "README.md").read_text()
        source = f"checkpoints/{name}/config.json"
        rows = dict(re.findall(r"^\| `(test/[^`]+)` \| ([^|]+?) \|$", card, flags=re.M))
        if set(rows) != set(record["metrics"]):
            figures.fail(
                card_path, f"metric rows {sorted(rows)}, {source} metrics {sorted(record['metrics'])}"
            )
        for key, value in record["metrics"].items():
            if key in rows:
                expected = f"{value:g}" if float(value).is_integer() else f"{value:.4f}"
                if rows[key] != expected:
                    line = line_of(card, card.index(f"`{key}`"), card_path)
                    figures.fail(line, f"{key}: card {rows[key]}, {source} {value!r} (i.e. {expected})")
        size = sum(p.stat().st_size for p in directory.iterdir() if p.name != "README.md") / 1e6
        training = record["training"]
        for expected in (
            f"{record['num_parameters']:,} parameters",
            f"{record['weights_dtype']}, {size:.2f} MB",
            f"Seed {training.get('seed', 2021)}; best checkpoint at epoch {training.get('epoch')} (global step\n"
            f"{training.get('global_step')})",
            record["training_command"],
        ):
            if expected not in card:
                figures.fail(card_path, f"does not say {expected!r} ({source})")
        reference = re.search(r"^Reference: (.*)$", card, flags=re.M)
        if reference:
            cell = Cell(reference.group(1), line_of(card, reference.start(), card_path))
            check_reference(figures, cell, name)
            for figure in cell.unchecked():
                figures.fail(cell.where, f"figure {figure} has no known source (extend this test)")
        weights = (directory / "model.safetensors").stat().st_size / 1e6
        row = (
            f"| [`{name}`]({name}/README.md) | `{record['architecture']}` | {record['num_parameters'] / 1e6:.2f} M | "
            f"{weights:.1f} MB | {describe_data(record['preprocessing'])} | {headline_metric(record['metrics'])} |"
        )
        if row not in index:
            figures.fail("checkpoints/README.md", f"no row {row!r} ({source})")
    figures.assert_none()


# ------------------------------------------------------------------------------------------------- LoRA


def test_tcn_lora_count_is_one_figure_and_what_zoo_computes() -> None:
    finetune = yaml.safe_load((REPO / "configs" / "finetune" / "lora_tcn_etth1_to_etth2.yaml").read_text())
    base, lora = finetune["model"]["init_from"], finetune["model"]["lora"]
    trainable, total = lora_counts(base, **lora)
    source = f"zoo.adapters on {base} with configs/finetune/lora_tcn_etth1_to_etth2.yaml (r={lora['r']})"
    figures, printed_counts = Figures(), []
    match, where = sentence(
        r'create_model\("(\S+)", pretrained=True\).*\n.*LoraConfig\(r=(\d+), lora_alpha=(\d+)\).*\n'
        rf".*print_trainable_parameters\(net\) # trainable params: ({FIG}) \|\| all params: ({FIG})"
    )
    if (match.group(1), int(match.group(2)), int(match.group(3))) != (base, lora["r"], lora["lora_alpha"]):
        figures.fail(where, f"the example's model/LoraConfig differ from {source}")
    where = line_of(readme(), match.start(4))
    figures.check(where, "example trainable params", match.group(4), trainable, source)
    figures.check(where, "example all params", match.group(5), total, source)
    printed_counts.append((where, match.group(4)))
    for where, cells in table("| models | adapted layers | trainable (r=8) |"):
        if cells[0] == "`tcn`":
            printed_counts.append((where, cells[2]))
    for where, cells in table("| model | zero-shot | best LoRA (trainable) | full fine-tune | scratch |"):
        if cells[0] == "`tcn`" and f"r={lora['r']}," in cells[2]:
            printed_counts.append((where, cells[2]))
    distinct = {re.search(NUM, text).group() for _, text in printed_counts}
    if len(distinct) != 1:
        figures.fail(
            "README.md", f"TCN r={lora['r']} LoRA trainable parameters printed differently: {printed_counts}"
        )
    for where, text in printed_counts:
        figures.check(where, "TCN LoRA trainable", re.search(NUM, text).group(), trainable, source)
    row = next(
        r
        for r in results("lora_transfer")["rows"]
        if (r["model"], r["method"]) == ("tcn", f"lora r={lora['r']}")
    )
    if row["trainable"] != trainable:
        figures.fail(
            "benchmarks/results/lora_transfer.json",
            f"tcn r={lora['r']} trainable {row['trainable']}, {source} {trainable}",
        )
    figures.assert_none()


def test_lora_targets_table_counts_are_the_shipped_models() -> None:
    figures = Figures()
    if not re.search(r"Trainable parameters are for r=8 on the shipped models", readme()):
        figures.fail(
            "README.md", "the LoRA targets table should say its counts are the shipped models' at r=8"
        )
    for where, (models, _, count) in table("| models | adapted layers | trainable (r=8) |"):
        families = [name.rstrip("*") for name in re.findall(r"`([^`]+)`", models)]
        if count == "-":
            import zoo

            net = zoo.create_model(families[0], n_features=7, seq_len=96, pred_len=96)
            if sum(p.numel() for p in net.parameters()):
                figures.fail(where, f"{families[0]}: '-' but the model has weights")
            continue
        values = re.findall(FIG, count)
        named = re.findall(r"`([^`]+)`", count)
        if named:
            if len(named) != len(values):
                figures.fail(where, f"cannot pair {values} with {named}")
                continue
            pairs = list(zip(named, values, strict=True))
        elif len(values) == len(families):
            pairs = [(f"{family}.etth1", value) for family, value in zip(families, values, strict=True)]
        elif len(values) == 1:
            pairs = [(f"{family}.etth1", values[0]) for family in families]
        else:
            figures.fail(where, f"cannot pair {values} with {families}")
            continue
        for name, value in pairs:
            if name not in shipped():
                figures.fail(where, f"{name} is not shipped: name the model in parentheses")
                continue
            trainable, _ = lora_counts(name, r=8)
            figures.check(where, f"{name} LoRA r=8 trainable", value, trainable, f"zoo.adapters on {name}")
    for row in results("lora_transfer")["rows"]:
        if row["method"].startswith("lora"):
            name = "vae.mnist" if row["model"] == "vae" else f"{row['model']}.etth1"
            trainable, _ = lora_counts(name, r=int(row["method"].split("=")[1]))
            if row["trainable"] != trainable:
                figures.fail(
                    "benchmarks/results/lora_transfer.json",
                    f"{name} {row['method']}: {row['trainable']} != zoo {trainable}",
                )
    figures.assert_none()


def test_lora_transfer_table_and_sentence_come_from_lora_transfer_json() -> None:
    figures, source = Figures(), "benchmarks/results/lora_transfer.json"
    rows = results("lora_transfer")["rows"]
    for where, (model_cell, *cells) in table(
        "| model | zero-shot | best LoRA (trainable) | full fine-tune | scratch |"
    ):
        model = model_cell.strip("`")
        runs = {r["method"]: r for r in rows if r["model"] == model}
        if not runs:
            figures.fail(where, f"{model}: no rows in {source}")
            continue
        loras = [r for m, r in runs.items() if m.startswith("lora")]
        best = min(loras, key=lambda r: r["metrics"]["test/mse"])
        chosen = [runs.get("zero-shot"), best, runs.get("full fine-tune"), runs.get("scratch")]
        for text, run, label in zip(
            cells, chosen, ("zero-shot", "best LoRA", "full fine-tune", "scratch"), strict=True
        ):
            cell = Cell(unbold(text), where)
            mse = cell.take(rf"^({FIG})")
            figures.check(
                where,
                f"{model} {label} test MSE",
                mse[0].group(1) if mse else text,
                run and run["metrics"]["test/mse"],
                f"{source} {run and run['method']}",
            )
            for match in cell.take(rf"\(r=(\d+), ({FIG}) k\)"):
                figures.check(
                    where,
                    f"{model} best LoRA rank",
                    match.group(1),
                    int(best["method"].split("=")[1]),
                    f"{source} (lowest test MSE)",
                )
                figures.check(
                    where,
                    f"{model} best LoRA trainable (k)",
                    match.group(2),
                    best["trainable"] / 1000,
                    source,
                )
            for figure in cell.unchecked():
                figures.fail(where, f"{model}: figure {figure} has no known source")
        values = [r["metrics"]["test/mse"] for r in chosen if r]
        bold = [i for i, text in enumerate(cells) if "**" in text]
        if bold != [values.index(min(values))]:
            figures.fail(
                where, f"{model}: bold should mark the lowest test MSE of the row ({min(values):.4f})"
            )
    match, where = sentence(
        rf"zero-shot ({FIG}), LoRA r=(\d+) ({FIG}), full fine-tuning ({FIG}), scratch ({FIG})\."
    )
    vae = {r["method"]: r["metrics"]["test/neg_elbo"] for r in rows if r["model"] == "vae"}
    figures.check(where, "VAE zero-shot", match.group(1), vae.get("zero-shot"), source)
    figures.check(where, "VAE LoRA", match.group(3), vae.get(f"lora r={match.group(2)}"), source)
    figures.check(where, "VAE full fine-tune", match.group(4), vae.get("full fine-tune"), source)
    figures.check(where, "VAE scratch", match.group(5), vae.get("scratch"), source)
    match, where = sentence(r"LoRA at r = (\d+), (\d+) and (\d+), full")
    for model in {r["model"] for r in rows} - {"vae"}:
        ranks = sorted(
            int(r["method"].split("=")[1]) for r in rows if r["model"] == model and "lora" in r["method"]
        )
        if ranks != sorted(int(g) for g in match.groups()):
            figures.fail(where, f"{model}: ranks {ranks} in {source}")
    figures.assert_none()


# ------------------------------------------------------------------------------------------ benchmarks


def test_etth1_results_table_comes_from_the_benchmark_results() -> None:
    figures = Figures()
    header = "| model | 96 | 192 | 336 | 720 |"
    horizons = [int(h) for h in header.strip("|").split("|")[1:]]
    for where, (label, *cells) in table(header):
        if label not in ETTH1_ROWS:
            figures.fail(where, f"row {label!r}: add its source to ETTH1_ROWS in this test")
            continue
        stem, name = ETTH1_ROWS[label]
        for horizon, text in zip(horizons, cells, strict=True):
            if not text:
                continue
            match = re.fullmatch(rf"({FIG})(?: ± ({FIG}))? / ({FIG})", text)
            if not match:
                figures.fail(where, f"{label} h{horizon}: cannot read {text!r}")
                continue
            if stem == "published":
                entry = PUBLISHED.get((name, "ETTh1", horizon))
                source = f"benchmarks/published.py {(name, 'ETTh1', horizon)}"
                figures.check(where, f"{label} h{horizon} MSE", match.group(1), entry and entry.mse, source)
                figures.check(where, f"{label} h{horizon} MAE", match.group(3), entry and entry.mae, source)
                continue
            runs = benchmark_rows(stem, name, horizon)
            source = f"benchmarks/results/{stem}.json {name} h{horizon}"
            if not runs:
                figures.fail(where, f"{label} h{horizon}: {source} has no runs")
                continue
            mse, std = mean_std(runs, "test/mse")
            figures.check(where, f"{label} h{horizon} MSE", match.group(1), mse, source)
            figures.check(
                where, f"{label} h{horizon} MAE", match.group(3), mean_std(runs, "test/mae")[0], source
            )
            if (match.group(2) is None) != (std is None):
                figures.fail(where, f"{label} h{horizon}: ± printed for {len(runs)} seed(s) in {source}")
            elif std is not None:
                figures.check(where, f"{label} h{horizon} MSE std", match.group(2), std, source)
                if sorted(r["seed"] for r in runs) != [2021, 2022, 2023]:
                    figures.fail(where, f"{label}: seeds are not 2021-2023 in {source}")
            on_cpu = "CPU" in label or name.startswith(("transformer", "informer"))
            if any(ran_on_cpu(r["device"]) != on_cpu for r in runs):
                figures.fail(where, f"{label}: trained on {runs[0]['device']} ({source})")
    figures.assert_none()


def test_m4_table_and_naive2_sentence_come_from_the_m4_results() -> None:
    figures = Figures()
    header = "| | Hourly sMAPE / MASE / OWA | Weekly sMAPE / MASE / OWA |"
    frequencies = [cell.split()[0] for cell in header.strip("|").split("|")[1:]]
    match, where = sentence(r"`benchmarks/nbeats_m4.py`, (\d+) members per frequency")
    for frequency in frequencies:
        members = len(results(f"m4_{frequency.lower()}_nbeats")["members"])
        figures.check(
            where, f"{frequency} members", match.group(1), members, f"m4_{frequency.lower()}_nbeats.json"
        )
    for where, (label, *cells) in table(header):
        base = re.sub(r"\s*\(.*$", "", label)
        for frequency, text in zip(frequencies, cells, strict=True):
            figures_printed = re.findall(NUM, text.split("(")[0])
            if base in M4_ENSEMBLES:
                stem = f"m4_{frequency.lower()}_nbeats"
                ensemble = results(stem)["ensembles"][M4_ENSEMBLES[base]]
                values = [ensemble["smape"], ensemble["mase"], ensemble["owa"]]
                source = f"benchmarks/results/{stem}.json ensembles[{M4_ENSEMBLES[base]!r}]"
                for count in re.findall(r"\((\d+) members\)", label):
                    figures.check(where, f"{base} members", count, ensemble["members"], source)
            elif base in M4_PUBLISHED_ROWS:
                row = published_m4_row(frequency, M4_PUBLISHED_ROWS[base])
                values = list(row[1:4]) if row else [None] * 3
                source = f"benchmarks/nbeats_m4.py PUBLISHED_M4[{frequency!r}] {M4_PUBLISHED_ROWS[base]}"
            else:
                figures.fail(where, f"row {label!r}: add it to M4_ENSEMBLES or M4_PUBLISHED_ROWS")
                break
            for text_value, value, metric in zip(
                figures_printed, values, ("sMAPE", "MASE", "OWA"), strict=False
            ):
                figures.check(where, f"{base} {frequency} {metric}", text_value, value, source)
    match, where = sentence(
        rf"score the published ({FIG}) / ({FIG}) \(Hourly\) and ({FIG}) / ({FIG}) \(Weekly\)"
    )
    for offset, frequency in ((0, "Hourly"), (2, "Weekly")):
        row = published_m4_row(frequency, "Naive2")
        source = f"benchmarks/nbeats_m4.py PUBLISHED_M4[{frequency!r}] Naive2"
        figures.check(where, f"Naive2 {frequency} sMAPE", match.group(1 + offset), row[1], source)
        figures.check(where, f"Naive2 {frequency} MASE", match.group(2 + offset), row[2], source)
    figures.assert_none()


def test_generative_results_come_from_generative_mnist_json() -> None:
    figures, source = Figures(), "benchmarks/results/generative_mnist.json"
    rows = results("generative_mnist")["rows"]
    for where, cells in table(
        "| config | test neg ELBO | test NLL (IWAE) | active units | published | met? |"
    ):
        config_cell, elbo, nll, units, published, met = (unbold(c) for c in cells)
        stem = re.match(r"`(\w+)`", config_cell).group(1)
        path = f"configs/generative/{stem}.yaml"
        row = generative_row(path)
        if row is None:
            figures.fail(where, f"{stem}: no row for {path} in {source}")
            continue
        args = yaml.safe_load((REPO / path).read_text())
        init = args["model"]["net"]["init_args"]
        at = f"{source} {stem}"
        for word in ("dynamic", "static"):
            if word in config_cell and row["binarize"] != word:
                figures.fail(where, f"{stem}: says {word}, {at} binarize={row['binarize']!r}")
        for match in re.finditer(r"(\d+) epochs", config_cell):
            figures.check(where, f"{stem} epochs", match.group(1), row["epochs_run"], f"{at} epochs_run")
        for match in re.finditer(r"(\d+) min\b", config_cell):
            figures.check(where, f"{stem} fit time", match.group(1), row["fit_minutes"], f"{at} fit_minutes")
        for match in re.finditer(r"beta (\d+)", config_cell):
            figures.check(where, f"{stem} beta", match.group(1), args["model"].get("kl_beta"), path)
        cell = Cell(elbo, where)
        exact = cell.take(rf"({FIG}) exact") or cell.take(rf"^({FIG})$")
        for match in exact:
            figures.check(where, f"{stem} test neg ELBO", match.group(1), row["test_neg_elbo"], at)
        for match in cell.take(rf"({FIG}) relaxed"):
            figures.check(where, f"{stem} relaxed", match.group(1), row["test_neg_elbo_relaxed"], at)
        cell2 = Cell(nll, where)
        for match in cell2.take(rf"({FIG}) \(k=(\d+)\)"):
            figures.check(where, f"{stem} IWAE NLL", match.group(1), row["test_nll_iwae"], at)
            figures.check(where, f"{stem} IWAE k", match.group(2), row["iwae_k"], at)
        match = re.fullmatch(r"(\d+) / (\d+)", units)
        latents = init.get("latent_dim") or init.get("num_variables")
        figures.check(where, f"{stem} active units", match.group(1), row["test_active_units"], at)
        figures.check(where, f"{stem} latents", match.group(2), latents, path)
        cell3 = Cell(published, where)
        for match in cell3.take(rf"^({FIG})"):
            figures.check(where, f"{stem} published", match.group(1), row.get("published"), at)
        for match in cell3.take(rf"target <= ({NUM})"):
            figures.check(where, f"{stem} target", match.group(1), row.get("target"), at)
        if published.startswith("none") and row.get("published") is not None:
            figures.fail(where, f"{stem}: says none, {at} published={row['published']}")
        if met == "-":
            if "meets_target" in row:
                figures.fail(where, f"{stem}: '-', but {at} meets_target={row['meets_target']}")
        else:
            if ("relaxed yes" in met) != bool(row.get("meets_target_relaxed")):
                figures.fail(
                    where, f"{stem}: {met!r}, {at} meets_target_relaxed={row.get('meets_target_relaxed')}"
                )
            says = not re.search(r"(?:^|exact )no\b", met)
            if says != row["meets_target"]:
                figures.fail(where, f"{stem}: {met!r}, {at} meets_target={row['meets_target']}")
            for match in re.finditer(rf"({FIG}) over", met):
                gap = row[f"test_{row['published_metric']}"] - row["target"]
                figures.check(where, f"{stem} gap to target", match.group(1), gap, at)
        for checked in (cell, cell2, cell3):
            for figure in checked.unchecked():
                figures.fail(where, f"{stem}: figure {figure} has no known source")
    vae = generative_row("configs/generative/vae_mnist.yaml")
    match, where = sentence(rf"The VAE misses the (\d+) target by ({FIG}) nats after (\d+) epochs")
    figures.check(where, "VAE target", match.group(1), vae["target"], source)
    figures.check(where, "VAE gap", match.group(2), vae["test_nll_iwae"] - vae["target"], source)
    figures.check(where, "VAE epochs", match.group(3), vae["epochs_run"], source)
    match, where = sentence(rf"and ({FIG}) at (\d+)\)\.")
    figures.check(where, "VAE best val neg ELBO", match.group(1), vae["best_val_neg_elbo"], source)
    figures.check(where, "VAE best val epoch", match.group(2), vae["best_val_epoch"], source)
    match, where = sentence(rf"final temperature \(tau = ({FIG})\)")
    gumbel = yaml.safe_load((REPO / "configs/generative/gumbel_vae_mnist.yaml").read_text())
    tau = gumbel["model"]["net"]["init_args"]["temperature_min"]
    figures.check(where, "final temperature", match.group(1), tau, "configs/generative/gumbel_vae_mnist.yaml")
    match, where = sentence(r"one seed \((\d+)\)")
    for row in rows:
        figures.check(where, f"{row['config']} seed", match.group(1), row["seed"], source)
    figures.assert_none()


def _shape(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", text)}


def test_causal_conv1d_speed_sentence_comes_from_the_cuda_results() -> None:
    figures, source = Figures(), "benchmarks/results/causal_conv1d_cuda.json"
    data = results("causal_conv1d_cuda")
    rows = [{**r, **_shape(r["shape"])} for r in data["results"]]

    def pick(case: str, passes: str, dtypes: tuple[str, ...], **shape: Any) -> list[dict[str, Any]]:
        chosen = [
            r
            for r in rows
            if r["case"].startswith(case)
            and r["pass"] == passes
            and r["dtype"] in dtypes
            and all(r[k] in (v if isinstance(v, tuple) else (v,)) for k, v in shape.items())
        ]
        assert chosen, (case, passes, dtypes, shape)
        return chosen

    def check_range(where: str, what: str, low: str, high: str, values: list[float]) -> None:
        figures.check(where, f"{what} (low end)", low, min(values), source)
        figures.check(where, f"{what} (high end)", high, max(values), source)

    match, where = sentence(
        r"on an (H\d+) the depthwise forward reaches (\d+)-(\d+) % of the HBM roofline in fp32 "
        r"with K = 3 at C >= 256, L = 4096 \(bf16: (\d+)-(\d+) %; K = 7: about (\d+) %\) "
        r"and runs ([\d.]+)-([\d.]+)x faster than cuDNN there"
    )
    if match.group(1) not in data["meta"]["device"]:
        figures.fail(where, f"says {match.group(1)}, {source} device {data['meta']['device']!r}")
    wide = {"C": (256, 512), "L": 4096}
    fp32 = pick("depthwise", "fwd", ("fp32",), K=3, **wide)
    bf16 = pick("depthwise", "fwd", ("bf16",), K=3, **wide)
    k7 = pick("depthwise", "fwd", ("fp32",), K=7, **wide)
    check_range(
        where,
        "depthwise fwd fp32 % of roofline",
        match.group(2),
        match.group(3),
        [100 * r["fraction_of_roofline"] for r in fp32],
    )
    check_range(
        where,
        "depthwise fwd bf16 % of roofline",
        match.group(4),
        match.group(5),
        [100 * r["fraction_of_roofline"] for r in bf16],
    )
    figures.check_about(
        where,
        "depthwise fwd K=7 % of roofline",
        match.group(6),
        [100 * r["fraction_of_roofline"] for r in k7],
        source,
    )
    check_range(
        where,
        "depthwise fwd speed-up over cuDNN",
        match.group(7),
        match.group(8),
        [r["speedup_vs_best_cudnn"] for r in fp32 + bf16],
    )
    match, where = sentence(
        r"depthwise forward\+backward is (\d+)-(\d+)x faster than cuDNN at C = 512, L = 4096"
    )
    both = pick("depthwise", "fwd+bwd", ("fp32", "bf16"), C=512, L=4096)
    check_range(
        where,
        "depthwise fwd+bwd speed-up",
        match.group(1),
        match.group(2),
        [r["speedup_vs_best_cudnn"] for r in both],
    )
    match, where = sentence(
        r"dense kernels run at ([\d.]+)-([\d.]+)x cuDNN's speed for long sequences \(TCN block forward\+backward at L = 4096\)"
    )
    block = pick("tcn block", "fwd+bwd", ("fp32", "bf16"), L=4096)
    check_range(
        where,
        "TCN block fwd+bwd speed-up",
        match.group(1),
        match.group(2),
        [r["speedup_vs_best_cudnn"] for r in block],
    )
    figures.assert_none()
