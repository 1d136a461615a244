

def test_the_shipped_dose_sweep_runs_the_embedded_default_at_each_level(tmp_path: Path) -> None:
    sweep = ablate.load_sweep("demo-doses", output=tmp_path)

    names = [v.name for v in sweep.variations]
    assert names == ["base", "dropout=0", "dropout=0.3", "dropout=0.6", "dropout=0.9"]
    base = sweep.variations[0].config
    for variation in sweep.variations[1:]:
        assert variation.config.captioners == base.captioners
        assert variation.config.reasoner == base.reasoner
    assert [v.config.description.word_dropout for v in sweep.variations[1:]] == [0, 0.3, 0.6, 0.9]
    assert all(c.name != "scripted" for c in [*base.captioners, base.reasoner])
