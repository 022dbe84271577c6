"""`hpun-edge train`: flags over an optional --config file over the defaults of `TrainConfig`.

Every flag defaults to "not given" (argparse.SUPPRESS), so only the flags on the command line override
the config file. Errors a user can fix print one line and exit 2 (via `hpun_edge.app.cli.main`); a run
that stops (diverged loss, full disk) prints one line and exits 1.
"""
from __future__ import annotations

import argparse
import sys

from ..variants import SCALES, VARIANTS

S = argparse.SUPPRESS


def register(sub) -> None:
    from .config import TrainConfig

    d = TrainConfig()
    s = sub.add_parser(
        "train",
        help="train an HPUN variant (the paper's recipe by default; torchrun for several GPUs)",
        description="Train an HPUN variant. Defaults follow the paper: random 48x48 LR patches, batch 16, "
        "flips and 90-degree rotations, L1 loss, Adam lr 2e-4 with a cosine schedule. Under "
        "`torchrun --nproc_per_node N -m hpun_edge train ...` each process trains with DDP on its own "
        "samples (batch size is per process).",
        argument_default=S,
    )
    s.add_argument("--config", help="YAML (or JSON) file of settings; flags given here override it")
    g = s.add_argument_group("model and data")
    g.add_argument("--model", choices=list(VARIANTS), help=f"variant (default {d.model})")
    g.add_argument("--scale", type=int, choices=SCALES, help=f"upscaling factor (default {d.scale})")
    g.add_argument("--data", help="folder of HR training images, searched recursively (default: <data root>/train)")
    g.add_argument("--data-root", dest="data_root",
                   help="data root for the default --data and --val-dataset names "
                        "(default: $HPUN_EDGE_DATA, ./data, ../shared/datasets)")
    g.add_argument("--init-from", dest="init_from",
                   help="start from these .safetensors weights of the same variant (any scale; all but the tail)")
    g = s.add_argument_group("recipe")
    g.add_argument("--iterations", type=int, help=f"training steps; the cosine schedule spans them (default {d.iterations:,}, an EDSR-style length)")
    g.add_argument("--batch-size", dest="batch_size", type=int, help=f"patches per step and process (default {d.batch_size})")
    g.add_argument("--patch-size", dest="patch_size", type=int, help=f"LR patch side; HR is patch*scale (default {d.patch_size})")
    g.add_argument("--lr", type=float, help=f"Adam learning rate (default {d.lr})")
    g.add_argument("--min-lr", dest="min_lr", type=float, help=f"cosine schedule floor (default {d.min_lr})")
    g.add_argument("--weight-decay", dest="weight_decay", type=float, help=f"Adam weight decay (default {d.weight_decay})")
    g.add_argument("--lr-rule", dest="lr_rule", choices=["sqrt", "linear", "none"],
                   help=f"how --lr scales with the global batch: lr * (batch / --lr-batch)^(1/2), ^1 or unchanged (default {d.lr_rule})")
    g.add_argument("--lr-batch", dest="lr_batch", type=int, help=f"the global batch --lr is given for (default {d.lr_batch})")
    g.add_argument("--ema-decay", dest="ema_decay", type=float,
                   help=f"EMA of the weights, validated and saved beside them; 0 turns it off (default {d.ema_decay})")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction,
                   help="random flips and 90-degree rotations (default on)")
    g.add_argument("--seed", type=int, help=f"seed of the initialisation and of the patch sampling (default {d.seed})")
    g = s.add_argument_group("run")
    g.add_argument("--run-dir", dest="run_dir", help="where checkpoints, logs and weights go (default runs/<model>_x<scale>)")
    g.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.json, with the settings in <run-dir>/config.yaml "
                   "unless --config is given (flags still override)")
    g.add_argument("--ckpt-every", dest="ckpt_every", type=int, help=f"steps between checkpoints (default {d.ckpt_every})")
    g.add_argument("--log-every", dest="log_every", type=int, help=f"steps between log rows and NaN/inf loss checks (default {d.log_every})")
    g.add_argument("--val-every", dest="val_every", type=int, help=f"steps between validations (default {d.val_every})")
    g.add_argument("--val-dataset", dest="val_dataset",
                   help=f"validation set: a name under the data root, a folder, or none (default {d.val_dataset})")
    g.add_argument("--workers", type=int, help="DataLoader worker processes (default min(4, CPU count))")
    g.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto: CUDA when present)")
    g.add_argument("--amp", action=argparse.BooleanOptionalAction, help="bf16 autocast on CUDA (default on)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction, help="torch.compile the model (default off)")
    g.add_argument("--engine", choices=["auto", "fast", "eager"],
                   help="fast: training pairs on the device, the whole step in a CUDA graph (eager steps if capture "
                        "fails), fused Adam; eager: DataLoader workers, op-by-op steps; auto (default): fast on one "
                        "CUDA device, eager on the CPU and under torchrun")
    s.set_defaults(func=cmd_train)


def config_from_args(args: argparse.Namespace):
    """Defaults < --config file < flags. With --resume and no --config, the run's saved config.yaml
    (in --run-dir, or the default run folder of --model/--scale) stands in for --config."""
    from .config import TrainConfig, config_from_dict, load_config

    names = set(TrainConfig.__dataclass_fields__)
    overrides = {k: v for k, v in vars(args).items() if k in names}
    if getattr(args, "config", None):
        return load_config(args.config, overrides)
    cfg = config_from_dict(overrides, source="command line")
    saved = cfg.run_path / "config.yaml"
    if cfg.resume and saved.is_file():
        if _is_rank0():
            print(f"resume: settings from {saved}, then the flags given")
        return load_config(saved, overrides)
    return cfg


def _is_rank0() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def cmd_train(args: argparse.Namespace) -> int:
    from .checkpoint import CheckpointWriteError
    from .loop import TrainingError, train

    cfg = config_from_args(args)
    try:
        path = train(cfg)
    except (TrainingError, CheckpointWriteError) as e:
        print(f"hpun-edge train: error: {e}", file=sys.stderr)
        return 1
    if _is_rank0():
        print(path)
    return 0


def register_zoo(sub) -> None:
    s = sub.add_parser(
        "train-zoo",
        help="train several variants from a plan file, then measure and ship each (resumable)",
        description="Train the runs of a plan (YAML: note, common, runs), each resumed or skipped if done, "
        "and install each run's best weights with measured Set5/Set14/B100 figures in the package.",
    )
    s.add_argument("plan", help="plan file, e.g. configs/zoo-cpu.yaml")
    s.add_argument("--root", default="runs/zoo", help="folder of the run folders (default runs/zoo)")
    s.add_argument("--data-root", dest="data_root", default=None, help="data root (training and benchmark sets)")
    s.add_argument("--dest", default=None, help="where to install the weights (default: hpun_edge/weights)")
    s.add_argument("--no-publish", dest="publish", action="store_false", help="train only")
    s.set_defaults(func=cmd_train_zoo)
    register_campaign(sub)  # beside train-zoo, so that the top-level CLI needs no change


def register_campaign(sub) -> None:
    s = sub.add_parser(
        "train-campaign",
        help="warm restarts of the shipped weights sized to the time at hand; ship only improvements",
        description="carry: lossless WebP copies of the data for a GPU call (OUT/train, OUT/bench). "
        "train: probe, size and train one more cosine cycle of each plan run from the shipped weights (all "
        "tensors), stop at --deadline-s, copy each run's best weights to ROOT/cand (the same command "
        "continues a stopped campaign). accept: measure the candidates on Set5/Set14/B100 and replace a "
        "shipped model only where its candidate beats its card on all three.",
    )
    s.add_argument("stage", choices=["carry", "train", "accept"])
    s.add_argument("plan", nargs="?", help="campaign plan (train and accept), e.g. configs/zoo-warm.yaml")
    s.add_argument("--root", default="runs/campaign", help="campaign folder (default runs/campaign)")
    s.add_argument("--data-root", dest="data_root", default=None,
                   help="train: data root with train/ and the validation set; carry: the data sets to copy")
    s.add_argument("--out", default="out/carry", help="carry: where to write train/ and bench/ (default out/carry)")
    s.add_argument("--bench-root", dest="bench_root", default=None, help="accept: data root with Set5, Set14, B100")
    s.add_argument("--cand", default=None, help="accept: folder of candidates (default ROOT/cand)")
    s.add_argument("--shipped", default=None, help="the shipped weights to start from and to replace (default hpun_edge/weights)")
    s.add_argument("--deadline-s", dest="deadline_s", type=float, default=540.0,
                   help="train: seconds after the start by which training stops (default 540)")
    s.add_argument("--device", default=None, help="accept: where to measure (default: cuda when present, else cpu)")
    s.set_defaults(func=cmd_train_campaign)


def cmd_train_campaign(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from ..zoo import WEIGHTS_DIR
    from .campaign import accept_stage, load_campaign, train_stage
    from .checkpoint import CheckpointWriteError
    from .loop import TrainingError

    start = time.monotonic()
    if args.stage == "carry":
        from ..data import resolve_data_root
        from .carry import prepare_carry

        sizes = prepare_carry(resolve_data_root(args.data_root), Path(args.out))
        print(", ".join(f"{Path(args.out) / k}: {v / 2**20:.1f} MiB" for k, v in sizes.items()))
        return 0
    if not args.plan:
        raise ValueError(f"train-campaign {args.stage}: a plan file is needed (e.g. configs/zoo-warm.yaml)")
    plan = load_campaign(args.plan)
    shipped = Path(args.shipped) if args.shipped else WEIGHTS_DIR
    root = Path(args.root)
    try:
        if args.stage == "train":
            train_stage(plan, root, shipped=shipped, data_root=args.data_root, deadline_s=args.deadline_s, start=start)
        else:
            import torch

            device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
            accept_stage(Path(args.cand) if args.cand else root / "cand", root, shipped=shipped,
                         bench_root=args.bench_root, device=device, note=plan.note)
    except (TrainingError, CheckpointWriteError) as e:
        print(f"hpun-edge train-campaign: error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_train_zoo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..zoo import WEIGHTS_DIR
    from .checkpoint import CheckpointWriteError
    from .loop import TrainingError
    from .zoo import load_plan, run_zoo

    plan = load_plan(args.plan)
    dest = (Path(args.dest) if args.dest else WEIGHTS_DIR) if args.publish else None
    try:
        run_zoo(plan, Path(args.root), dest, args.data_root)
    except (TrainingError, CheckpointWriteError) as e:
        print(f"hpun-edge train-zoo: error: {e}", file=sys.stderr)
        return 1
    return 0
