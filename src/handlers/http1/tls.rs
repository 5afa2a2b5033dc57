//! TLS with rustls (ring), the server's certificate not verified.

use super::{Duplex, Sock};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use std::io::{self, Read, Write};
use std::sync::Arc;

/// Any certificate, as the kubelet (Go's `InsecureSkipVerify`): a pod's
/// endpoint has no certificate a node could check (self-signed, or
/// issued for a name other than the pod IP it is reached at). As in Go,
/// the handshake's signatures are still checked against the certificate
/// the server presents.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client over `sock`; the handshake happens with the first write.
pub(super) fn wrap(sock: Sock, host: &str) -> Result<Box<dyn Duplex>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).map_err(|_| {
        format!(
            "{} is not a valid TLS server name",
            crate::os::text::Quoted(host)
        )
    })?;
    let conn = ClientConnection::new(Arc::new(config), name).map_err(|e| format!("TLS: {e}"))?;
    let sniff = Sniff {
        sock,
        first: [0; 5],
        seen: 0,
    };
    Ok(Box::new(Tls(rustls::StreamOwned::new(conn, sniff))))
}

/// Go's error when a server answers a TLS handshake in plaintext HTTP: the
/// kubelet retries a lifecycle hook over HTTP on it (`runHTTPHandler`,
/// `isHTTPResponseError`).
pub(crate) const HTTP_RESPONSE: &str = "server gave HTTP response to HTTPS client";

/// The socket, keeping the first 5 bytes the server sent: `HTTP/` there
/// is a plaintext answer (Go checks the same record header).
struct Sniff {
    sock: Sock,
    first: [u8; 5],
    seen: usize,
}

impl Read for Sniff {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        let take = (self.first.len() - self.seen).min(n);
        self.first[self.seen..self.seen + take].copy_from_slice(&buf[..take]);
        self.seen += take;
        Ok(n)
    }
}

impl Write for Sniff {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// The TLS stream; an error after a plaintext `HTTP/` answer is Go's
/// [`HTTP_RESPONSE`].
struct Tls(rustls::StreamOwned<ClientConnection, Sniff>);

impl Tls {
    fn said(&self, e: io::Error) -> io::Error {
        match &self.0.sock.first {
            b"HTTP/" => io::Error::other(HTTP_RESPONSE),
            _ => e,
        }
    }
}

impl Read for Tls {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.0.read(buf);
        r.map_err(|e| self.said(e))
    }
}

impl Write for Tls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.0.write(buf);
        r.map_err(|e| self.said(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.0.flush();
        r.map_err(|e| self.said(e))
    }
}
