"""The sandbox's kernel command and the grader's sockets, built for real (the kernels themselves run in
test_grading.py)."""

import asyncio
import logging
import shutil

import pytest
import zmq

from nst_grader.sandbox import SandboxedKernelManager


def start_command(tmp_path, **settings):
    """The command and launch arguments the manager would start a kernel with, in ``tmp_path``."""
    manager = SandboxedKernelManager(kernel_name="python3", **settings)
    try:
        return asyncio.run(manager._async_pre_start_kernel(cwd=str(tmp_path), env={"SECRET": "x", "LANG": "C"}))
    finally:
        asyncio.run(manager._async_cleanup_resources())


def test_without_bubblewrap_grading_refuses_and_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    with pytest.raises(RuntimeError, match=r"apt-get install bubblewrap.*sandbox=False"):
        start_command(tmp_path)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
def test_the_kernel_command_is_sandboxed_limited_and_offline(tmp_path):
    command, launch = start_command(tmp_path)
    assert command[0].endswith("bwrap") and "--unshare-net" in command and "--clearenv" in command
    assert command[command.index("--chdir") + 1] == str(tmp_path.resolve())
    assert ["--ro-bind", str(tmp_path.resolve()), str(tmp_path.resolve())] == command[
        command.index(str(tmp_path.resolve())) - 1 :
    ][:3]
    assert "SECRET" not in command and launch["env"] == {"PATH": "/usr/bin:/bin"}
    assert any(arg.startswith("--nproc=") for arg in command) and any(arg.startswith("--as=") for arg in command)
    assert "ipykernel_launcher" in " ".join(command[command.index("--", command.index("/usr/bin/prlimit")) :])


def test_without_the_sandbox_a_warning_is_logged(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        command, _ = start_command(tmp_path, sandbox=False)
    assert "bwrap" not in " ".join(command)
    assert "WITHOUT a sandbox" in caplog.text


def test_the_grader_s_sockets_refuse_messages_over_the_size_limit(tmp_path):
    """Every socket of the kernel client carries the limit (ZeroMQ drops a larger message unread);
    test_grading.py shows a notebook printing 100 MB at once costing the grader no memory."""
    manager = SandboxedKernelManager(
        kernel_name="python3", message_size_limit_mb=3, transport="ipc", ip=str(tmp_path / "kernel")
    )
    client = manager.client()
    sockets = [client.connect_shell(), client.connect_iopub(), client.connect_control(), client.connect_stdin()]
    try:
        assert [socket.getsockopt(zmq.MAXMSGSIZE) for socket in sockets] == [3 * 2**20] * 4
    finally:
        for socket in sockets:
            socket.close(linger=0)
        client.context.destroy(linger=0)
