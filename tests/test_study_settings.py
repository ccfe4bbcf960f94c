"""Study settings: defaults < TOML < --set, typed, validated, one-line errors."""

from __future__ import annotations

import pytest

from bends.errors import BendsError
from bends.runner.config import build, resolve
from bends.studies import get_study
from bends.studies.count_depth import CountDepthConfig


def test_toml_overrides_defaults_and_set_overrides_toml(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('depths = [2, 3]\nwidth = 8\nfamilies = ["sawtooth"]\nradius = 2\n')
    config = resolve(CountDepthConfig, toml, ["width=4", "depths=5,6,7"])
    assert config.depths == (5, 6, 7) and config.width == 4
    assert config.families == ("sawtooth",)
    assert config.radius == 2.0 and isinstance(config.radius, float)
    assert config.seeds == CountDepthConfig().seeds


def test_settings_round_trip_through_their_stored_form():
    config = resolve(CountDepthConfig, assignments=["families=random-rnn,sawtooth", "seeds=3"])
    assert build(CountDepthConfig, config.as_dict()) == config


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("depth=3", "unknown setting 'depth'"),
        ("seeds=many", "setting seeds expects int, got 'many'"),
        ("seeds=true", "setting seeds expects int"),
        ("radius=wide", "setting radius expects float"),
        ("families=sawtooth,foo", "setting families expects list of sawtooth"),
        ("depths=[1, 2.5]", "setting depths expects list of int"),
        ("seeds=0", "seeds must be at least 1"),
        ("depths=0,1", "depths must lie in 1..26"),
        ("radius=-1", "radius must be positive"),
        ("families=[]", "families must not be empty"),
        ("radius=inf", "radius must be finite"),
        ("radius=nan", "radius must be finite"),
        ("=3", "--set needs key=value"),
    ],
)
def test_bad_settings_get_one_clear_line(assignment, message):
    with pytest.raises(BendsError, match="^" + message.replace("[", r"\[")) as caught:
        resolve(CountDepthConfig, assignments=[assignment])
    assert "\n" not in str(caught.value)


def test_bad_toml_files_are_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("depths = [1, 2\n")
    with pytest.raises(BendsError, match="not valid TOML"):
        resolve(CountDepthConfig, bad)
    with pytest.raises(BendsError, match="cannot read"):
        resolve(CountDepthConfig, tmp_path / "missing.toml")
    (tmp_path / "unknown.toml").write_text("colour = 'red'\n")
    with pytest.raises(BendsError, match="unknown setting 'colour'"):
        resolve(CountDepthConfig, tmp_path / "unknown.toml")


def test_seeds_split_into_cells_of_consecutive_groups():
    config = CountDepthConfig(seeds=5, seeds_per_cell=2, first_seed=10)
    assert config.seed_groups() == [(10, 11), (12, 13), (14,)]
    study = get_study("count-depth")
    cells = study.cells(resolve(CountDepthConfig, assignments=["depths=1,2", "seeds=5"]))
    seeded = [c for c in cells if c.params["family"].startswith("random")]
    # per depth: the MLPs' 2 initialisations × 2 offsets, and the tied RNNs; one seed group
    assert len(seeded) == 2 * (2 * 2 + 1) and all(c.seeds == (0, 1, 2, 3, 4) for c in seeded)
    assert len({c.key for c in cells}) == len(cells)
