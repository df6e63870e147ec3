"""Apps whose Hydra run dir is the working directory log to the console only: a training run leaves no
``<job>.log`` file in the folder it was started from (the run folder holds what matters)."""
import pytest
from hydra import compose, initialize_config_dir


@pytest.mark.parametrize("app", ["msrs", "asr_ddp"])
def test_hydra_job_logging_writes_no_file(app):
    from pathlib import Path

    import apps

    conf = Path(apps.__file__).parent / app / "configs"
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        cfg = compose("train", return_hydra_config=True)
    assert cfg.hydra.run.dir == "."                    # the case where a log file would land in the cwd
    handlers = cfg.hydra.job_logging.get("handlers", {}) or {}
    assert not any("FileHandler" in str(h.get("class", "")) for h in handlers.values()), handlers
    assert "console" in handlers
