"""The public API: the README's Python example runs as written; checkpoints rebuild themselves."""
import re
from pathlib import Path

import pytest
import torch

import loihi_hybrid as lh
from loihi_hybrid.errors import InputError

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    m = re.search(r"<!-- api-example:begin -->\s*```python\n(.*?)```\s*<!-- api-example:end -->", text, re.S)
    assert m, "README has no api-example block"
    return m.group(1)


def test_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(readme_example(), "README.md (api example)", "exec"), scope)
    run, summary, boxes = scope["run"], scope["summary"], scope["boxes"]
    assert isinstance(run, lh.Run) and run.stage == "hybrid"
    assert summary["metric"] == pytest.approx(scope["meta"]["test_metric_at_export"]["fixed_point_emulation"])
    assert boxes.shape == (4, 4)
    # the checkpoint alone rebuilt the same network with the same weights and readout window
    rebuilt = scope["model"]
    assert rebuilt.readout_warmup == run.cfg.readout_warmup
    for (k, a), (_, b) in zip(run.model.state_dict().items(), rebuilt.state_dict().items()):
        assert torch.equal(a, b), k


def test_api_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="unknown network 'nope'"):
        lh.train("nope")
    with pytest.raises(InputError, match="not a finetune.py run folder"):
        lh.load_run(tmp_path)
    bad = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(2)}, bad)
    with pytest.raises(InputError, match="not a loihi-hybrid model checkpoint"):
        lh.load_checkpoint(bad)


def test_checkpoints_hold_no_code(tmp_path):
    """A pickle that would run code is refused (weights_only loading), not executed."""
    class Payload:
        def __reduce__(self):
            return (Path(tmp_path / "pwned").write_text, ("x",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "loihi-hybrid-model", "payload": Payload()}, evil)
    with pytest.raises(InputError, match="cannot load checkpoint"):
        lh.load_checkpoint(evil)
    assert not (tmp_path / "pwned").exists()


def test_public_names():
    assert {"train", "load_run", "load_checkpoint", "export", "deploy", "networks"} <= set(lh.__all__)
    assert {"locnet", "cae"} <= set(lh.networks())
