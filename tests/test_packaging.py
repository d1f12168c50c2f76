"""The four code folders install under the `twostream` namespace, as a wheel and editable."""
import configparser
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("data", "pipeline", "fusion", "cli")


def _listed_packages() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return {line.strip() for line in config["options"]["packages"].splitlines() if line.strip()}


def test_every_package_folder_is_listed_in_setup_cfg():
    found = {
        "twostream." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found == _listed_packages()


def test_wheel_installs_beside_unrelated_data_fusion_and_pipeline_packages(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "wheel"), str(ROOT)], check=True)
    wheel = next((tmp_path / "wheel").glob("twostream_fusion-*.whl"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True)
    for name in ("data", "fusion", "pipeline"):  # stand-ins for the unrelated PyPI distributions
        (target / name).mkdir()
        (target / name / "__init__.py").write_text(f"OWNER = 'unrelated {name}'\n")
    code = ("import data, fusion, pipeline, twostream.data.splits, twostream.pipeline.decode, twostream.cli.main;"
            "assert data.OWNER == 'unrelated data' and fusion.OWNER == 'unrelated fusion';"
            "assert twostream.data.splits.__file__.startswith(%r)" % str(target))
    env = {**os.environ, "PYTHONPATH": str(target)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=env)


def test_editable_install_maps_the_root_folders():
    import twostream.data
    import twostream.pipeline

    assert Path(twostream.data.__file__).parent == ROOT / "data"
    assert Path(twostream.pipeline.__file__).parent == ROOT / "pipeline"
