"""TLS sessions on OpenSSL's own API: one shared context per CHF trust set, a certificate per
session; and the head-end's sessions, whose read buffer can be given back.

Python's :mod:`ssl` ties a certificate to an ``SSLContext``, and an OpenSSL 3 context costs about
25 KiB, so a fleet paid that per CHF only to hold each its own certificate. OpenSSL itself sets
a certificate and key per connection (``SSL_use_certificate``/``SSL_use_PrivateKey``) on a
context shared by every CHF that trusts the same CAs. This module calls those functions in the
very ``libssl`` that :mod:`ssl` loaded (same library, same version: one OpenSSL in the process)
through :mod:`ctypes`, over a pair of OpenSSL memory BIOs, as ``ssl.MemoryBIO`` does. The
head-end side runs here too: after the CHF's ticket (a post-handshake message) OpenSSL keeps its
17 KiB read buffer until the first application record, and only this API can free it
(``SSL_free_buffers``).

It is deliberately small: TLS 1.2/1.3, peer certificates required and verified by OpenSSL
(without its clock check: the run's clock judges validity), ALPN, key logs, no session cache.
pyOpenSSL can set a certificate per connection too, but it brings its own OpenSSL (4.x in the
``cryptography`` wheel), whose established server session measured 34 KiB against 26 here, and
it cannot turn session tickets off or down (``SSL_CTX_set_num_tickets`` is not bound).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from mypy_extensions import mypyc_attr

from emulator.errors import CertificateError, TransportError

# OpenSSL constants (ssl.h, bio.h, x509_vfy.h; stable across OpenSSL 3).
_SSL_ERROR_SSL: Final = 1
_SSL_ERROR_WANT_READ: Final = 2
_SSL_ERROR_SYSCALL: Final = 5
_SSL_ERROR_ZERO_RETURN: Final = 6
_SSL_CTRL_MODE = 33
_SSL_CTRL_SET_SESS_CACHE_MODE = 44
_SSL_CTRL_SET_GROUPS_LIST = 92
_SSL_CTRL_SET_MIN_PROTO_VERSION = 123
_SSL_CTRL_SET_MAX_PROTO_VERSION = 124
_SSL_MODE_ENABLE_PARTIAL_WRITE = 0x1
_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER = 0x2
_SSL_MODE_AUTO_RETRY = 0x4
_SSL_MODE_RELEASE_BUFFERS = 0x10
_SSL_SESS_CACHE_OFF = 0
_SSL_VERIFY_PEER = 0x1
_SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 0x2
_SSL_TLSEXT_ERR_OK = 0
_SSL_TLSEXT_ERR_NOACK = 3
_OPENSSL_NPN_NEGOTIATED = 1
_BIO_CTRL_PENDING = 10
_BIO_C_SET_BUF_MEM_EOF_RETURN = 130
_TLS_VERSIONS = {"1.2": 0x0303, "1.3": 0x0304}
#: X509_V_FLAG_NO_CHECK_TIME: validity is judged on the run's clock, after the handshake.
NO_CHECK_TIME = 0x200000

_P = ctypes.c_void_p
_ALPN_CB = ctypes.CFUNCTYPE(ctypes.c_int, _P, ctypes.POINTER(_P), ctypes.POINTER(ctypes.c_ubyte),
                            _P, ctypes.c_uint, _P)
_KEYLOG_CB = ctypes.CFUNCTYPE(None, _P, ctypes.c_char_p)


def _library(stem: str) -> str:
    """The path of ``lib<stem>`` as this process loaded it for :mod:`ssl` (from
    /proc/self/maps), else the system's."""
    try:
        with Path("/proc/self/maps").open() as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                if f"/lib{stem}.so" in path:
                    return path
    except OSError:
        pass
    name = ctypes.util.find_library(stem)
    if name is None:
        raise TransportError(f"lib{stem} not found (the OpenSSL that Python's ssl module uses)")
    return name


def _load() -> ctypes.PyDLL:
    """``libssl`` as :mod:`ssl` uses it; PyDLL: calls keep the GIL (they are short)."""
    name = _library("ssl")
    lib = ctypes.PyDLL(name)
    lib.OpenSSL_version_num.restype = ctypes.c_ulong
    if lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
        raise TransportError(f"{name} is not the OpenSSL of Python's ssl module "
                             f"({ssl.OPENSSL_VERSION})")
    sigs: dict[str, tuple[object, list[object]]] = {
        "TLS_server_method": (_P, []),
        "TLS_client_method": (_P, []),
        "SSL_CTX_use_certificate": (ctypes.c_int, [_P, _P]),
        "SSL_CTX_use_PrivateKey": (ctypes.c_int, [_P, _P]),
        "SSL_CTX_set_alpn_protos": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_uint]),
        "SSL_set_connect_state": (None, [_P]),
        "SSL_get_session": (_P, [_P]),
        "SSL_SESSION_has_ticket": (ctypes.c_int, [_P]),
        "SSL_CTX_new": (_P, [_P]),
        "SSL_CTX_free": (None, [_P]),
        "SSL_CTX_ctrl": (ctypes.c_long, [_P, ctypes.c_int, ctypes.c_long, _P]),
        "SSL_CTX_set_options": (ctypes.c_uint64, [_P, ctypes.c_uint64]),
        "SSL_CTX_set_cipher_list": (ctypes.c_int, [_P, ctypes.c_char_p]),
        "SSL_CTX_set_num_tickets": (ctypes.c_int, [_P, ctypes.c_size_t]),
        "SSL_CTX_set_verify": (None, [_P, ctypes.c_int, _P]),
        "SSL_CTX_get0_param": (_P, [_P]),
        "SSL_CTX_get_cert_store": (_P, [_P]),
        "SSL_CTX_set_alpn_select_cb": (None, [_P, _ALPN_CB, _P]),
        "SSL_CTX_set_keylog_callback": (None, [_P, _KEYLOG_CB]),
        "SSL_select_next_proto": (ctypes.c_int, [ctypes.POINTER(_P),
                                                 ctypes.POINTER(ctypes.c_ubyte), ctypes.c_char_p,
                                                 ctypes.c_uint, _P, ctypes.c_uint]),
        "SSL_new": (_P, [_P]),
        "SSL_free": (None, [_P]),
        "SSL_set_bio": (None, [_P, _P, _P]),
        "SSL_set_accept_state": (None, [_P]),
        "SSL_has_pending": (ctypes.c_int, [_P]),
        "SSL_use_certificate": (ctypes.c_int, [_P, _P]),
        "SSL_use_PrivateKey": (ctypes.c_int, [_P, _P]),
        "SSL_do_handshake": (ctypes.c_int, [_P]),
        "SSL_get_error": (ctypes.c_int, [_P, ctypes.c_int]),
        "SSL_read": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
        "SSL_write": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
        "SSL_shutdown": (ctypes.c_int, [_P]),
        "SSL_free_buffers": (ctypes.c_int, [_P]),
        "SSL_get_version": (ctypes.c_char_p, [_P]),
        "SSL_get1_peer_certificate": (_P, [_P]),
        "SSL_get_verify_result": (ctypes.c_long, [_P]),
        "SSL_get0_alpn_selected": (None, [_P, ctypes.POINTER(_P), ctypes.POINTER(ctypes.c_uint)]),
        "BIO_s_mem": (_P, []),
        "BIO_new": (_P, [_P]),
        "BIO_free": (ctypes.c_int, [_P]),
        "BIO_ctrl": (ctypes.c_long, [_P, ctypes.c_int, ctypes.c_long, _P]),
        "BIO_read": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
        "BIO_write": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
    }
    for fn, (res, args) in sigs.items():
        f = getattr(lib, fn)
        f.restype, f.argtypes = res, args
    return lib


def _load_crypto() -> ctypes.PyDLL:
    lib = ctypes.PyDLL(_library("crypto"))
    pp = ctypes.POINTER(ctypes.c_char_p)
    sigs: dict[str, tuple[object, list[object]]] = {
        "d2i_X509": (_P, [_P, pp, ctypes.c_long]),
        "i2d_X509": (ctypes.c_int, [_P, _P]),
        "X509_free": (None, [_P]),
        "d2i_AutoPrivateKey": (_P, [_P, pp, ctypes.c_long]),
        "EVP_PKEY_free": (None, [_P]),
        "X509_STORE_add_cert": (ctypes.c_int, [_P, _P]),
        "X509_VERIFY_PARAM_set_flags": (ctypes.c_int, [_P, ctypes.c_ulong]),
        "X509_verify_cert_error_string": (ctypes.c_char_p, [ctypes.c_long]),
        "ERR_get_error": (ctypes.c_ulong, []),
        "ERR_clear_error": (None, []),
        "ERR_reason_error_string": (ctypes.c_char_p, [ctypes.c_ulong]),
    }
    for fn, (res, args) in sigs.items():
        f = getattr(lib, fn)
        f.restype, f.argtypes = res, args
    return lib


class _Bare:
    """The data path's calls (records after the handshake) without ctypes' conversion of each
    argument: no ``argtypes``, so pointers go as ``c_void_p`` objects made once per session and
    BIO, buffers as ctypes arrays or bytes, lengths as Python ints (C ints, as declared). A
    call costs a third of a converted one, and one WAN read makes eight (each record: an
    SSL_write and a BIO_read to send it, a BIO_write and an SSL_read to receive it)."""

    __slots__ = ("BIO_ctrl_pending", "BIO_read", "BIO_write", "SSL_get_error",
                 "SSL_has_pending", "SSL_read", "SSL_write")

    def __init__(self, lib: ctypes.PyDLL) -> None:
        def bare(name: str, restype: type[ctypes._SimpleCData[Any]]) -> Callable[..., int]:
            f = lib[name]  # a new function object: the declared one keeps its argtypes
            f.restype = restype
            return f

        self.BIO_ctrl_pending = bare("BIO_ctrl_pending", ctypes.c_size_t)
        self.BIO_read = bare("BIO_read", ctypes.c_int)
        self.BIO_write = bare("BIO_write", ctypes.c_int)
        self.SSL_get_error = bare("SSL_get_error", ctypes.c_int)
        self.SSL_has_pending = bare("SSL_has_pending", ctypes.c_int)
        self.SSL_read = bare("SSL_read", ctypes.c_int)
        self.SSL_write = bare("SSL_write", ctypes.c_int)


_lock = threading.Lock()
_libs: tuple[ctypes.PyDLL, ctypes.PyDLL] | None = None
_bare: _Bare | None = None


def _openssl() -> tuple[ctypes.PyDLL, ctypes.PyDLL]:
    global _libs, _bare
    with _lock:
        if _libs is None:
            _libs = (_load(), _load_crypto())
            _bare = _Bare(_libs[0])
        return _libs


def _bare_calls() -> _Bare:
    _openssl()
    assert _bare is not None
    return _bare


def _errors(crypto: ctypes.PyDLL) -> str:
    """The reason of the last error in OpenSSL's queue (as :mod:`ssl` reports it, named as it
    names them), the queue emptied."""
    last = 0
    while code := crypto.ERR_get_error():
        last = code
    reason = crypto.ERR_reason_error_string(last) if last else None
    text = reason.decode() if reason else "unknown TLS error"
    return text.upper().replace(" ", "_")


def _d2i(fn: Callable[..., int | None], der: bytes) -> int:
    buf = ctypes.c_char_p(der)
    ptr = fn(None, ctypes.byref(buf), len(der))
    if not ptr:
        raise CertificateError("OpenSSL could not read a DER certificate or key")
    return ptr


# The C callbacks are made here, not as closures in TlsContext's methods (mypyc cannot
# compile a closure in a method of a non-native class).

def _alpn_select(lib: ctypes.PyDLL, wire: bytes) -> object:
    """A server's ALPN choice: the one protocol of ``wire`` if the client offers it."""
    def select(_ssl: int | None, out: ctypes._Pointer[ctypes.c_void_p],
               outlen: ctypes._Pointer[ctypes.c_ubyte], offered: int | None,
               offered_len: int, _arg: int | None) -> int:
        got = lib.SSL_select_next_proto(out, outlen, wire, len(wire), offered, offered_len)
        return _SSL_TLSEXT_ERR_OK if got == _OPENSSL_NPN_NEGOTIATED else _SSL_TLSEXT_ERR_NOACK

    return _ALPN_CB(select)


def _keylog_writer(keylog: Path) -> object:
    """OpenSSL's key log lines appended to ``keylog``."""
    def log_line(_ssl: int | None, line: bytes) -> None:
        with keylog.open("ab") as f:
            f.write(line + b"\n")

    return _KEYLOG_CB(log_line)


@mypyc_attr(native_class=False)
class TlsContext:
    """One OpenSSL context: a CHF server context shared by every CHF that trusts the same CAs
    (no certificate of its own: each session gets its CHF's), or a head-end's client context
    (its certificate on the context). Same TLS versions, ciphers, curve, ALPN and checks as
    the ``ssl.SSLContext`` s1lab used to make.

    A Python class in the compiled core (``native_class=False``; its methods are compiled):
    the shared contexts are held by weak references (:mod:`emulator.drivers.tls`), which
    mypyc's native classes do not take. Nothing of it is on the data path."""

    __slots__ = ("_alpn_cb", "_crypto", "_ctx", "_keylog_cb", "_lib", "_mem", "server",
                 "__weakref__")

    def __init__(self, *, server: bool, trusted_der: tuple[bytes, ...], min_version: str,
                 max_version: str, ciphers: str, alpn: str, num_tickets: int = 0,
                 keylog: Path | None = None, own: ServerKeys | None = None) -> None:
        self._ctx = 0
        self._lib, self._crypto = lib, crypto = _openssl()
        self._mem = lib.BIO_s_mem()  # the memory BIO method (static): asked once, not per BIO
        self.server = server
        self._alpn_cb: object = None
        self._keylog_cb: object = None
        try:
            lo, hi = _TLS_VERSIONS[min_version], _TLS_VERSIONS[max_version]
        except KeyError as exc:
            raise TransportError(f"unknown TLS version {exc.args[0]!r} (use 1.2 or 1.3)") from None
        ctx = lib.SSL_CTX_new(lib.TLS_server_method() if server else lib.TLS_client_method())
        if not ctx:
            raise TransportError(f"SSL_CTX_new failed: {_errors(crypto)}")
        self._ctx = ctx
        ok = (lib.SSL_CTX_ctrl(ctx, _SSL_CTRL_SET_MIN_PROTO_VERSION, lo, None)
              and lib.SSL_CTX_ctrl(ctx, _SSL_CTRL_SET_MAX_PROTO_VERSION, hi, None)
              and lib.SSL_CTX_set_cipher_list(ctx, ciphers.encode())
              and lib.SSL_CTX_ctrl(ctx, _SSL_CTRL_SET_GROUPS_LIST, 0, ctypes.c_char_p(b"P-256"))
              and lib.SSL_CTX_set_num_tickets(ctx, num_tickets))
        if not ok:
            raise TransportError(f"cannot configure a TLS context: {_errors(crypto)}")
        # The options Python's ssl gives a context of this side.
        side = ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT
        lib.SSL_CTX_set_options(ctx, int(ssl.SSLContext(side).options)
                                | ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION)
        lib.SSL_CTX_ctrl(ctx, _SSL_CTRL_MODE, _SSL_MODE_RELEASE_BUFFERS | _SSL_MODE_AUTO_RETRY
                         | _SSL_MODE_ENABLE_PARTIAL_WRITE | _SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
                         None)
        # Sessions are not resumed: a shared cache would hold every CHF's last session.
        lib.SSL_CTX_ctrl(ctx, _SSL_CTRL_SET_SESS_CACHE_MODE, _SSL_SESS_CACHE_OFF, None)
        lib.SSL_CTX_set_verify(ctx, _SSL_VERIFY_PEER | _SSL_VERIFY_FAIL_IF_NO_PEER_CERT, None)
        crypto.X509_VERIFY_PARAM_set_flags(lib.SSL_CTX_get0_param(ctx), NO_CHECK_TIME)
        store = lib.SSL_CTX_get_cert_store(ctx)
        for der in trusted_der:
            x = _d2i(crypto.d2i_X509, der)
            added = crypto.X509_STORE_add_cert(store, x)
            crypto.X509_free(x)
            if not added:
                raise CertificateError(f"cannot trust a CA: {_errors(crypto)}")
        if own is not None:
            own.install_on(self)
        wire = bytes([len(alpn)]) + alpn.encode()
        if server:
            self._alpn_cb = cb = _alpn_select(lib, wire)  # kept: OpenSSL holds the C pointer
            lib.SSL_CTX_set_alpn_select_cb(ctx, cb, None)
        elif lib.SSL_CTX_set_alpn_protos(ctx, wire, len(wire)) != 0:
            raise TransportError(f"cannot offer ALPN {alpn!r}: {_errors(crypto)}")
        if keylog is not None:
            from emulator.capture.keylog import prepare_secret_file

            prepare_secret_file(keylog)
            self._keylog_cb = kcb = _keylog_writer(keylog)
            lib.SSL_CTX_set_keylog_callback(ctx, kcb)

    def __del__(self) -> None:
        if self._ctx:
            self._lib.SSL_CTX_free(self._ctx)
            self._ctx = 0

    def session(self, keys: ServerKeys | None = None) -> Session:
        """A new session of this context (a server's presents ``keys``)."""
        return Session(self, keys)


#: Bytes asked of one SSL_read or BIO_read: a whole record's plaintext fits (TLS: 16 KiB).
RECORD_SIZE: Final = 16384

_buffers: Final = threading.local()


def _read_buffer(size: int) -> ctypes.Array[ctypes.c_char]:
    """This thread's buffer for SSL_read (made once: a fresh 16 KiB buffer per read, zeroed,
    cost more than the read)."""
    buf: ctypes.Array[ctypes.c_char] | None = getattr(_buffers, "buf", None)
    if buf is None or len(buf) < size:
        buf = _buffers.buf = ctypes.create_string_buffer(size)
    return buf


class MemBio:
    """One of a session's OpenSSL memory BIOs, used as an ``ssl.MemoryBIO`` is."""

    __slots__ = ("_bare", "_bio", "_lib", "_ptr")

    def __init__(self, lib: ctypes.PyDLL, bio: int) -> None:
        self._lib = lib
        self._bio = bio
        self._ptr = ctypes.c_void_p(bio)
        self._bare = _bare_calls()

    @property
    def pending(self) -> int:
        """Bytes written and not read yet."""
        return int(self._bare.BIO_ctrl_pending(self._ptr))

    def write(self, data: bytes) -> int:
        return int(self._bare.BIO_write(self._ptr, data, len(data)))

    def write_eof(self) -> None:
        self._lib.BIO_ctrl(self._bio, _BIO_C_SET_BUF_MEM_EOF_RETURN, 0, None)

    def read(self) -> bytes:
        """Everything written so far (then cleared)."""
        bare, ptr = self._bare, self._ptr
        buf: Any = _read_buffer(RECORD_SIZE)  # a c_char array: its slices are bytes
        n = bare.BIO_read(ptr, buf, RECORD_SIZE)  # an empty memory BIO answers -1 (retry)
        if n < RECORD_SIZE:
            return buf[:n] if n > 0 else b""
        parts = [buf[:n]]  # more than a buffer: a handshake flight, a long frame
        while (n := bare.BIO_read(ptr, buf, RECORD_SIZE)) > 0:
            parts.append(buf[:n])
        return b"".join(parts)


class Session:
    """One SSL over two memory BIOs (``incoming``, ``outgoing``), with the calls and errors
    of an ``ssl.SSLObject`` (``ssl.SSLWantReadError``, ``ssl.SSLZeroReturnError``,
    ``ssl.SSLError`` with its ``reason``)."""

    __slots__ = ("_bare", "_clean", "_crypto", "_ctx", "_done", "_lib", "_ptr", "_ssl",
                 "_version", "incoming", "outgoing")

    def __init__(self, ctx: TlsContext, keys: ServerKeys | None) -> None:
        self._ssl: int = 0
        lib, crypto = self._lib, self._crypto = ctx._lib, ctx._crypto  # noqa: SLF001
        self._ctx = ctx  # the C context lives as long as its sessions
        s = lib.SSL_new(ctx._ctx)  # noqa: SLF001
        if not s:
            raise TransportError(f"SSL_new failed: {_errors(crypto)}")
        self._ssl = s
        self._ptr = ctypes.c_void_p(s)
        self._bare = _bare_calls()
        rbio, wbio = lib.BIO_new(ctx._mem), lib.BIO_new(ctx._mem)  # noqa: SLF001
        # An empty read BIO asks for more (retry), as ssl.MemoryBIO does until write_eof().
        lib.BIO_ctrl(rbio, _BIO_C_SET_BUF_MEM_EOF_RETURN, -1, None)
        lib.SSL_set_bio(s, rbio, wbio)  # the SSL owns (and frees) both BIOs now
        self.incoming = MemBio(lib, rbio)
        self.outgoing = MemBio(lib, wbio)
        self._done = False
        self._version: str | None = None
        #: Known to hold no received byte: the incoming BIO empty and no record begun in the
        #: SSL (see :meth:`receive`). False until a read has shown it.
        self._clean = False
        if not ctx.server:
            lib.SSL_set_connect_state(s)
            return
        lib.SSL_set_accept_state(s)
        if keys is None:
            raise CertificateError("a TLS server session needs a certificate and key")
        keys.install_on_session(s)

    def __del__(self) -> None:
        if self._ssl:
            self._lib.SSL_free(self._ssl)
            self._ssl = 0

    # -- the SSLObject calls ----------------------------------------------------------------

    def _fail(self, ret: int) -> ssl.SSLError:
        return self._error(self._bare.SSL_get_error(self._ptr, ret))

    def _error(self, code: int) -> ssl.SSLError:
        if code == _SSL_ERROR_WANT_READ:
            return ssl.SSLWantReadError()
        if code == _SSL_ERROR_ZERO_RETURN:
            self._crypto.ERR_clear_error()
            return ssl.SSLZeroReturnError()
        reason = _errors(self._crypto)
        if code == _SSL_ERROR_SYSCALL and reason == "UNKNOWN_TLS_ERROR":
            reason = "UNEXPECTED_EOF_WHILE_READING"
        verify = self._lib.SSL_get_verify_result(self._ssl)
        if code == _SSL_ERROR_SSL and verify and reason == "CERTIFICATE_VERIFY_FAILED":
            detail = self._crypto.X509_verify_cert_error_string(verify)
            reason = f"{reason} ({detail.decode() if detail else verify})"
        exc = ssl.SSLError(code, reason)
        exc.reason = reason  # as ssl's own errors carry it
        return exc

    def do_handshake(self) -> None:
        if not self.handshake_step():
            raise ssl.SSLWantReadError()

    def handshake_step(self) -> bool:
        """:meth:`do_handshake` that answers False instead of raising when it waits for the
        peer (a handshake waits three or four times: no exception each time)."""
        if self._done:
            return True
        ret = self._lib.SSL_do_handshake(self._ssl)
        if ret != 1:
            if self._lib.SSL_get_error(self._ssl, ret) == _SSL_ERROR_WANT_READ:
                return False
            raise self._fail(ret)
        self._done = True
        v = self._lib.SSL_get_version(self._ssl)
        self._version = v.decode() if v else None
        return True

    def input_pending(self) -> bool:
        """Whether bytes received are still to be read: in the incoming BIO, or in a record
        OpenSSL has started (without read-ahead it takes one record at a time)."""
        lib = self._lib
        return bool(lib.BIO_ctrl(self.incoming._bio, _BIO_CTRL_PENDING, 0, None)  # noqa: SLF001
                    or lib.SSL_has_pending(self._ssl))

    def read(self, size: int) -> bytes:
        buf: Any = _read_buffer(size)  # a c_char array: its slices are bytes
        ret = self._bare.SSL_read(self._ptr, buf, size)
        if ret <= 0:
            raise self._fail(ret)
        data: bytes = buf[:ret]
        return data

    def read_available(self, chunks: list[bytes]) -> None:
        """Append the plaintext of every record that the incoming BIO holds whole, as
        :meth:`read` in a loop until it raises ``SSLWantReadError`` would (that ends it here,
        without raising), raising as it does on a close (``SSLZeroReturnError``) or an error.

        The last read, the one that would only find the BIO empty, is not made: with no byte
        left in the BIO and none buffered in the SSL, OpenSSL cannot get further (its read
        asks the empty BIO for a record header, and wants to read). An EOF written on the BIO
        changes that (the read then fails): read to the end with :meth:`read` then."""
        bare, ptr, rbio = self._bare, self._ptr, self.incoming._ptr  # noqa: SLF001
        buf: Any = _read_buffer(RECORD_SIZE)  # a c_char array: its slices are bytes
        self._clean = False
        while True:
            ret = bare.SSL_read(ptr, buf, RECORD_SIZE)
            if ret <= 0:
                code = bare.SSL_get_error(ptr, ret)
                if code == _SSL_ERROR_WANT_READ:
                    return
                raise self._error(code)
            chunks.append(buf[:ret])
            if not bare.BIO_ctrl_pending(rbio) and not bare.SSL_has_pending(ptr):
                self._clean = True
                return

    def receive(self, data: bytes, chunks: list[bytes]) -> bool:
        """``incoming.write(data)``, then :meth:`read_available` (and raising as it does), with
        fewer calls into OpenSSL in the data path's common case: ``data`` one whole record
        and nothing received before it left in the BIO or the SSL. Then one ``SSL_read``
        that gives plaintext has taken the whole record (a record's plaintext fits the
        buffer), so nothing is left to ask about. A record that gives none (a post-handshake
        message, an alert) is read on as :meth:`read_available` reads.

        True when that one read was all: an application record, which makes OpenSSL send
        nothing (no output to collect). False: the output BIO may hold bytes to send."""
        bare, ptr = self._bare, self._ptr
        n = len(data)
        bare.BIO_write(self.incoming._ptr, data, n)  # noqa: SLF001
        if not (self._clean and n > 5 and (data[3] << 8 | data[4]) == n - 5):
            self.read_available(chunks)
            return False
        buf: Any = _read_buffer(RECORD_SIZE)  # a c_char array: its slices are bytes
        ret = bare.SSL_read(ptr, buf, RECORD_SIZE)
        if ret > 0:
            chunks.append(buf[:ret])
            return True
        self._clean = False
        code = bare.SSL_get_error(ptr, ret)
        if code != _SSL_ERROR_WANT_READ:
            raise self._error(code)
        return False

    def write(self, data: bytes) -> int:
        ret = self._bare.SSL_write(self._ptr, data, len(data))
        if ret <= 0:
            raise self._fail(ret)
        return int(ret)

    def seal(self, data: bytes) -> bytes:
        """:meth:`write` ``data``, then ``outgoing.read()``: the records to send."""
        bare = self._bare
        ret = bare.SSL_write(self._ptr, data, len(data))
        if ret <= 0:
            raise self._fail(ret)
        buf: Any = _read_buffer(RECORD_SIZE)  # outgoing.read(), its common case inline
        n = bare.BIO_read(self.outgoing._ptr, buf, RECORD_SIZE)  # noqa: SLF001
        out: bytes = buf[:n] if n > 0 else b""
        if n < RECORD_SIZE:
            return out
        return out + self.outgoing.read()  # more than a buffer: the rest

    def release_buffers(self) -> None:
        """Give back the record buffers while nothing is pending (OpenSSL keeps the read
        buffer after a post-handshake message, such as the ticket a head-end waits for)."""
        self._lib.SSL_free_buffers(self._ssl)

    def session_has_ticket(self) -> bool:
        sess = self._lib.SSL_get_session(self._ssl)
        return bool(sess) and bool(self._lib.SSL_SESSION_has_ticket(sess))

    def unwrap(self) -> None:
        self._lib.SSL_shutdown(self._ssl)
        self._crypto.ERR_clear_error()

    def version(self) -> str | None:
        return self._version

    def selected_alpn_protocol(self) -> str | None:
        data, size = _P(), ctypes.c_uint()
        self._lib.SSL_get0_alpn_selected(self._ssl, ctypes.byref(data), ctypes.byref(size))
        return ctypes.string_at(data.value, size.value).decode() if data.value else None

    def getpeercert(self, binary_form: bool = True) -> bytes | None:
        """The peer's certificate, DER (None when it sent none)."""
        x = self._lib.SSL_get1_peer_certificate(self._ssl)
        if not x:
            return None
        try:
            n = self._crypto.i2d_X509(x, None)
            buf = ctypes.create_string_buffer(max(n, 0))
            p = ctypes.c_char_p(ctypes.addressof(buf))
            self._crypto.i2d_X509(x, ctypes.byref(p))
            return buf.raw
        finally:
            self._crypto.X509_free(x)


class ServerKeys:
    """A certificate and its key, parsed once by OpenSSL (a CHF's, set on each of its
    sessions; or a head-end's, set on its context)."""

    __slots__ = ("_cert", "_crypto", "_key", "_lib")

    def __init__(self, cert_der: bytes, key_der: bytes) -> None:
        self._cert = self._key = 0
        self._lib, self._crypto = _openssl()
        self._cert = _d2i(self._crypto.d2i_X509, cert_der)
        self._key = _d2i(self._crypto.d2i_AutoPrivateKey, key_der)

    def __del__(self) -> None:
        if self._cert:
            self._crypto.X509_free(self._cert)
            self._cert = 0
        if self._key:
            self._crypto.EVP_PKEY_free(self._key)
            self._key = 0

    def install_on(self, ctx: TlsContext) -> None:
        lib = self._lib
        c = ctx._ctx  # noqa: SLF001
        if lib.SSL_CTX_use_certificate(c, self._cert) != 1 or \
                lib.SSL_CTX_use_PrivateKey(c, self._key) != 1:
            raise CertificateError(f"cannot use the certificate: {_errors(self._crypto)}")

    def install_on_session(self, s: int) -> None:
        lib = self._lib
        if lib.SSL_use_certificate(s, self._cert) != 1 or \
                lib.SSL_use_PrivateKey(s, self._key) != 1:
            raise CertificateError(f"cannot use the certificate: {_errors(self._crypto)}")
