"""The command line speaks one vocabulary (cli/vocabulary.py's table), read from the parser itself, and each
command's defaults are its config dataclass's."""
from __future__ import annotations

import argparse
import importlib

import pytest

from twostream.cli.main import COMMAND_MODULES, build_parser
from twostream.data.runtime import AUTO_DEVICE
from twostream.fusion.configs import EvaluateConfig, GateConfig, HeadConfig
from twostream.fusion.probe import ProbeConfig
from twostream.fusion.report.build import ReportConfig
from twostream.pipeline.extract_features import FeatureExtractionConfig
from twostream.pipeline.extract_frames import FrameExtractionConfig
from twostream.pipeline.streams.train_streams import StreamTrainingConfig

PIPELINE_ORDER = ["make-synthetic", "index", "check-videos", "extract-frames", "flow", "export-rawframes",
                  "train-streams", "extract-features", "export-features", "verify", "probe", "train-gate", "train-mfuse",
                  "evaluate", "report"]
# Spellings the vocabulary replaced: none may come back
RETIRED = {"--store", "--algorithm", "--name", "--lam", "--on", "--vec-tap", "--tap"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    subparsers = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    return dict(subparsers.choices)


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings
            if action.help is not argparse.SUPPRESS and flag not in ("-h", "--help")}


def test_commands_are_listed_in_pipeline_order():
    assert list(_commands()) == PIPELINE_ORDER
    assert len(COMMAND_MODULES) == len(PIPELINE_ORDER)


def test_every_option_and_argument_of_every_command_has_help():
    for name, parser in _commands().items():
        for action in parser._actions:
            if action.help is argparse.SUPPRESS or action.dest == "help":
                continue
            assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest} has no help"


def test_every_command_spells_each_concept_the_vocabulary_s_way():
    for name, parser in _commands().items():
        options = _options(parser)
        assert not RETIRED & set(options), f"{name} keeps {sorted(RETIRED & set(options))}"
        positionals = [action.dest for action in parser._actions if not action.option_strings]
        assert positionals in ([], ["manifest"], ["frame1", "frame2"]), f"{name} takes {positionals} positionally"
        if "--device" in options:
            assert options["--device"].default == AUTO_DEVICE, f"{name}'s device default"
        if "--amp" in options:
            assert isinstance(options["--amp"], argparse.BooleanOptionalAction), f"{name}'s --amp is not --[no-]amp"
        if "--workers" in options:
            assert "worker processes" in options["--workers"].help, f"{name}'s --workers means something else"
        for flag, action in options.items():
            assert not (isinstance(action.default, str) and "," in action.default), f"{name} {flag}: a comma list"
        for flag in ("--frames", "--features"):
            if flag in options:
                assert options[flag].metavar == "STORE", f"{name} {flag}"


# Per config-backed command: the fewest arguments it parses, and the config those arguments alone must give
DEFAULT_CONFIGS = [
    ("extract_frames", ["m.json", "--frames", "f.zarr"], FrameExtractionConfig()),
    ("extract_features", ["m.json", "--frames", "f.zarr", "--features", "s.zarr", "--rgb-checkpoint", "r.pt",
                          "--flow-checkpoint", "f.pt"], FeatureExtractionConfig(rgb_checkpoint="r.pt",
                                                                                flow_checkpoint="f.pt")),
    ("train_streams", ["m.json", "--frames", "f.zarr", "--out", "streams"], StreamTrainingConfig()),
    ("probe", ["m.json", "--features", "s.zarr", "--attribute", "kind"], ProbeConfig(attribute="kind")),
    ("train_gate", ["m.json", "--features", "s.zarr", "--run", "runs/gate"], GateConfig()),
    ("train_mfuse", ["m.json", "--features", "s.zarr", "--run", "runs/mfuse"], HeadConfig()),
    ("evaluate", ["m.json", "--features", "s.zarr", "--out", "results.json"], EvaluateConfig()),
    ("report", ["--runs", "runs/gate", "--out", "report"], ReportConfig()),
]


@pytest.mark.parametrize("module, arguments, expected", DEFAULT_CONFIGS, ids=[c[0] for c in DEFAULT_CONFIGS])
def test_a_command_given_no_options_builds_its_config_s_defaults(module, arguments, expected):
    command = importlib.import_module(f"twostream.cli.commands.{module}")
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert command.config(parser.parse_args(arguments)) == expected


def test_a_default_shown_in_help_is_the_parser_s_own():
    help_text = _commands()["train-gate"].format_help()
    assert "(default: [0.03, 0.003])" in " ".join(help_text.split())
    assert "default %(default)" not in help_text
