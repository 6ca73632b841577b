"""What several test files need, written once: a hostile weights file, a loopback HTTP server, reading
an image back, and the shrunk notebook run.

Everything here is real: the hostile file is a real pickle stream, the server a real ``http.server``
on 127.0.0.1, the images are read with PIL.
"""

import asyncio
import functools
import os
import pickle
import re
import shlex
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from nbformat.v4 import new_code_cell
from PIL import Image

from course import cell_by_grade_id

# --------------------------------------------------------------------------------------------
# A weights file whose unpickling would run code
# --------------------------------------------------------------------------------------------

# The first record of a legacy (pre-1.6) torch.save stream (torch.serialization.MAGIC_NUMBER). Written
# here rather than taken from vgg_weights, so a wrong constant there cannot hide behind the same one here.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Call:
    """Pickles as the call ``function(*args)``: what a malicious pickle holds."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def malicious_pth(path, marker, via="os.system", where="state dict", protocol=2):
    """Write a legacy torch.save file to ``path`` whose unpickling creates the file ``marker``.

    ``via``: ``"os.system"`` (``touch marker``) or ``"eval"`` (``open(marker, 'w')``): pickled as the
    global ``posix.system`` or ``builtins.eval`` (``__builtin__.eval`` under protocol 2, as torch.save
    writes it). ``where``: the record that holds the call, ``"state dict"`` (as a tensor) or
    ``"sys info"`` (read before any tensor). Returns ``path``.
    """
    call = {
        "os.system": _Call(os.system, f"touch {shlex.quote(str(marker))}"),
        "eval": _Call(eval, f"open({str(marker)!r}, 'w').close()"),
    }[via]
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    state = {"0.weight": call} if where == "state dict" else {}
    if where == "sys info":
        sys_info["type_sizes"] = call
    with open(path, "wb") as f:
        for record in (TORCH_LEGACY_MAGIC, 1001, sys_info, state, []):  # magic, protocol, sys info, state, keys
            pickle.dump(record, f, protocol=protocol)
    return path


def unpickle_freely(path):
    """Unpickle every record of ``path`` with the plain pickle module, as torch.load would: proves that
    a file from ``malicious_pth`` does run its code when nothing restricts it."""
    with open(path, "rb") as f:
        for _ in range(5):
            pickle.load(f)


# --------------------------------------------------------------------------------------------
# A real HTTP server on the loopback interface
# --------------------------------------------------------------------------------------------


class LoopbackServer:
    """``http.server`` on 127.0.0.1 (a free port) serving the files under ``root``, while in a ``with``.

    ``url`` is its address without a trailing slash; ``requests`` lists the paths asked for (GET and
    HEAD), in order. A missing file is answered 404. A path added to ``cut_short`` is answered with
    its whole Content-Length but only the first half of its bytes, then the connection closes: a
    download that breaks off.
    """

    def __init__(self, root):
        self.root = root
        self.requests = []
        self.cut_short = set()
        lock = threading.Lock()
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def send_head(self):
                with lock:
                    server.requests.append(self.path)
                return super().send_head()

            def copyfile(self, source, destination):
                if self.path not in server.cut_short:
                    return super().copyfile(source, destination)
                body = source.read()
                destination.write(body[: len(body) // 2])
                self.close_connection = True

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


# --------------------------------------------------------------------------------------------
# Images and notebooks
# --------------------------------------------------------------------------------------------


def read_rgb(path):
    """The image file at ``path`` as a float32 array (height, width, 3), RGB in [0, 1], read with PIL
    (not with the project's own reader, which is what the tests check)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.float32) / 255.0


def shrink_run(notebook, steps=3, width=64, height=48):
    """Make the assignment notebook's generation quick: ``steps`` steps, a snapshot at each, images of
    ``width`` x ``height`` (a cell setting CONFIG's size is inserted after the imports cell)."""
    [parameters] = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    source, n_steps = re.subn(r"(?m)^NUM_STEPS = .*$", f"NUM_STEPS = {steps}", parameters.source)
    source, n_snapshots = re.subn(r"(?m)^SNAPSHOT_EVERY = .*$", "SNAPSHOT_EVERY = 1", source)
    assert n_steps == n_snapshots == 1, parameters.source
    parameters.source = source
    imports = notebook.cells.index(cell_by_grade_id(notebook, "imports"))
    notebook.cells.insert(imports + 1, new_code_cell(f"CONFIG.image_width, CONFIG.image_height = {width}, {height}"))


def bind_unix_socket(listening, folder, name="socket"):
    """Bind the AF_UNIX socket ``listening`` to ``folder / name`` through ``/proc/self/fd``: a socket's
    path is limited to 107 bytes, and pytest's folders in CI are longer."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        listening.bind(f"/proc/self/fd/{fd}/{name}")
    finally:
        os.close(fd)


def run_kernels(folder, *codes, at_once=False, **settings):
    """Run each of ``codes`` in a kernel of its own, started in ``folder`` one after the other as
    nbgrader would (or all at once); returns what each printed (with any error's name and value).
    A code that is a list of cells runs them one after the other in its kernel: what each printed."""

    from nst_grader.sandbox import SandboxedKernelManager

    async def run(code):
        manager = SandboxedKernelManager(kernel_name="python3", **settings)
        await manager.start_kernel(cwd=str(folder))
        client = manager.client()
        client.start_channels()
        printed = []

        def keep(message):
            content = message["content"]
            if message["msg_type"] == "stream":
                printed.append(content["text"])
            elif message["msg_type"] == "error":
                printed.append(f"ERROR {content['ename']}: {content['evalue']}")

        outputs = []
        try:
            await client.wait_for_ready(timeout=180)
            for cell in [code] if isinstance(code, str) else code:
                printed.clear()
                await client.execute_interactive(cell, output_hook=keep, timeout=180)
                outputs.append("".join(printed))
        finally:
            client.stop_channels()
            await manager.shutdown_kernel(now=True)
        return outputs[0] if isinstance(code, str) else outputs

    async def run_all():
        if at_once:
            return await asyncio.gather(*(run(code) for code in codes))
        return [await run(code) for code in codes]

    return asyncio.run(run_all())
