"""Concurrent writers never delete each other's temporaries: one of another host or PID namespace
(a cluster node sharing the folder, a container) is judged by its age, not by a process id that
means nothing here; one of a dead process of this host and namespace goes at once."""

import os
import pathlib
import subprocess
import sys

import pytest

import keras_simplex.atomic as atomic
from keras_simplex.atomic import atomic_output, remove_stale_temporaries, temporary_sibling


def dead_pid() -> int:
    """The id of a process that has just ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def age(path: pathlib.Path) -> None:
    """Make ``path`` and everything in it look untouched for decades."""
    for each in [*path.rglob("*"), path]:
        os.utime(each, (0, 0))


def temporary(target: pathlib.Path, owner: str, folder: bool = False) -> pathlib.Path:
    """A temporary of ``target`` named for ``owner`` (``host_namespace_pid`` or, as older versions
    named them, ``pid``), a file or a folder with a file, written just now."""
    path = target.parent / f".{target.stem}.{owner}-0123abcd.partial{target.suffix}"
    if folder:
        path.mkdir()
        (path / "saved_model.pb").write_text("being written")
    else:
        path.write_text("being written")
    return path


def owners() -> dict[str, str]:
    """Owners of temporaries by where their process runs, all of processes not running here."""
    host, namespace = atomic._owner()
    pid = dead_pid()
    return {"this namespace": f"{host}_{namespace}_{pid}", "another host": f"node-7_{namespace}_{pid}",
            "another namespace": f"{host}_{int(namespace) + 1}_{pid}", "older version": str(pid)}


@pytest.mark.parametrize("folder", [False, True])
def test_only_temporaries_no_writer_will_finish_are_removed(tmp_path, folder):
    target = tmp_path / ("model" if folder else "maps.h5")
    fresh = {where: temporary(target, owner, folder) for where, owner in owners().items()}
    remove_stale_temporaries(str(target))
    assert {where for where, path in fresh.items() if path.exists()} == {"another host", "another namespace",
                                                                         "older version"}
    for path in fresh.values():
        if path.exists():
            age(path)
    remove_stale_temporaries(str(target))
    assert not any(path.exists() for path in fresh.values())


def test_a_temporary_growing_in_an_old_folder_is_kept(tmp_path):
    """A folder's own time changes only when entries come and go, not while a file in it grows."""
    target = tmp_path / "motifs"
    path = temporary(target, owners()["another host"], folder=True)
    age(path)
    (path / "saved_model.pb").write_text("still being written")
    (path / "variables").mkdir()
    os.utime(path, (0, 0))
    remove_stale_temporaries(str(target))
    assert path.exists()


def test_a_running_writer_here_is_kept_however_old(tmp_path):
    host, namespace = atomic._owner()
    path = temporary(tmp_path / "maps.h5", f"{host}_{namespace}_{os.getpid()}")
    age(path)
    remove_stale_temporaries(str(tmp_path / "maps.h5"))
    assert path.exists()


def test_other_targets_temporaries_are_left_alone(tmp_path):
    others = [temporary(tmp_path / "maps.x.h5", owners()["another host"]), temporary(tmp_path / "maps.npz", "12"),
              temporary(tmp_path / "maps.2.h5", "12")]
    for path in others:
        age(path)
    remove_stale_temporaries(str(tmp_path / "maps.h5"))
    assert all(path.exists() for path in others)


def test_names_are_short_and_portable(tmp_path, monkeypatch):
    pid = os.getpid()
    names = {}
    for host in ("login-1.cluster_a.example.org", "login-1.cluster_b.example.org", "gpu.node"):
        monkeypatch.setattr(atomic.socket, "gethostname", lambda host=host: host)
        names[host] = pathlib.Path(temporary_sibling(str(tmp_path / "maps.h5"))).name
    boot = open("/proc/sys/kernel/random/boot_id").read().replace("-", "")[:8]  # hosts of one name differ by it
    assert names["gpu.node"].startswith(f".maps.gpu-node-{boot}_{atomic._owner()[1]}_{pid}-")
    labels = {name.split("_")[0] for name in names.values()}
    assert len(labels) == 3 and all(len(label) <= len(".maps.") + 24 + 9 for label in labels)
    assert all(name.replace(".", "").replace("_", "").replace("-", "").isalnum() for name in names.values())


def unshare() -> list[str] | None:
    """A command prefix that runs a command as PID 1 of a new PID namespace, if this system allows one."""
    for prefix in (["unshare", "--pid", "--fork", "--mount-proc"],
                   ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
                return prefix
        except FileNotFoundError:
            return None
    return None


CLEAN_UP = """import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("atomic", sys.argv[1])
atomic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(atomic)
assert not os.path.exists(f"/proc/{sys.argv[3]}"), "the writer's process id is running in this namespace too"
atomic.remove_stale_temporaries(sys.argv[2])
"""


def test_a_writer_in_a_container_keeps_a_running_writers_temporary(tmp_path):
    """What ``unshare --pid --fork --mount-proc keras-simplex ... --output conc.h5`` does first."""
    prefix = unshare() or pytest.skip("cannot create a PID namespace here")
    target = tmp_path / "conc.h5"
    with atomic_output(target) as path:
        pathlib.Path(path).write_text("the first batches")
        subprocess.run([*prefix, sys.executable, "-c", CLEAN_UP, atomic.__file__, str(target), str(os.getpid())],
                       check=True)
        assert os.path.exists(path)
    assert target.read_text() == "the first batches"
