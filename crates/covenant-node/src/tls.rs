//! TLS for the node's listeners (article 21, COV-21): the client API and the operations listener serve HTTPS
//! when the config names a certificate chain and a private key (PEM files, from the bank's PKI). rustls with
//! the `ring` provider, TLS 1.2 and 1.3. A production chain refuses to serve either to other hosts without it.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use covenant_rules::Violation;
use covenant_rules::genesis::Environment;

use crate::config::NodeConfig;

/// The acceptor for the certificate chain in `cert_file` and the key in `key_file`; errors name the file
/// and what is wrong with it.
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|error| format!("api_tls_cert_file {}: {error}", cert_file.display()))?
        .collect::<Result<_, _>>()
        .map_err(|error| format!("api_tls_cert_file {}: {error}", cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!("api_tls_cert_file {}: no PEM certificate in it", cert_file.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|error| format!("api_tls_key_file {}: no PEM private key in it ({error})", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS protocol versions: {error}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| {
            format!(
                "api_tls_cert_file {} and api_tls_key_file {} do not make a usable certificate: {error}",
                cert_file.display(),
                key_file.display()
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The TLS acceptor of the node's listeners as `config` asks: `None` without a certificate. With one, the
/// client API and the operations listener both serve HTTPS (the operations token must not cross a network
/// in the clear). A production chain refuses a listener reachable from other hosts (a non-loopback
/// `api_addr` or `ops_addr`) that would serve plain HTTP.
pub fn api_acceptor(config: &NodeConfig, environment: Environment) -> Result<Option<TlsAcceptor>, String> {
    if let (Some(cert), Some(key)) = (&config.api_tls_cert_file, &config.api_tls_key_file) {
        return acceptor(cert, key).map(Some);
    }
    if environment == Environment::Production {
        let exposed = std::iter::once(("api_addr", &config.api_addr))
            .chain(config.ops_addr.iter().map(|ops| ("ops_addr", ops)))
            .find(|(_, address)| !address.is_loopback());
        if let Some((field, address)) = exposed {
            return Err(format!(
                "{}: {field} {address} is reachable from other hosts on a production chain: set api_tls_cert_file and \
                 api_tls_key_file (article 21)",
                Violation::AdminApiExposed { api_addr: address.to_string() }.rule(),
            ));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn config(extra: &str) -> NodeConfig {
        let text = format!(
            "node_id = \"bank-a-val-0\"\ndata_dir = \"data\"\nlisten_addr = \"0.0.0.0:7100\"\n\
             genesis_file = \"genesis.toml\"\nconsensus_key_file = \"c.key\"\nnetwork_key_file = \"n.key\"\n{extra}"
        );
        NodeConfig::from_toml_str(&text, &PathBuf::from("/srv/covenant/node.toml")).unwrap()
    }

    // covers: COV-21-ENCRYPTED-TRANSPORT
    #[test]
    fn a_production_chain_refuses_a_public_api_without_tls() {
        let public = config("api_addr = \"0.0.0.0:7200\"\napi_public = true\n");
        let refused = api_acceptor(&public, Environment::Production).map(|_| ()).unwrap_err();
        assert!(refused.contains("COV-21") && refused.contains("api_tls_cert_file"), "{refused}");
        assert!(api_acceptor(&public, Environment::Test).unwrap().is_none(), "a test chain only warns");
        let loopback = config("");
        assert!(api_acceptor(&loopback, Environment::Production).unwrap().is_none(), "loopback needs no TLS");
        let public_ops = config("ops_addr = \"0.0.0.0:9200\"\nops_public = true\n");
        let refused = api_acceptor(&public_ops, Environment::Production).map(|_| ()).unwrap_err();
        assert!(refused.contains("ops_addr 0.0.0.0:9200"), "{refused}");
        let with_tls = config(
            "api_addr = \"0.0.0.0:7200\"\napi_public = true\napi_tls_cert_file = \"no/such.pem\"\napi_tls_key_file = \"k.pem\"\n",
        );
        let unreadable = api_acceptor(&with_tls, Environment::Production).map(|_| ()).unwrap_err();
        assert!(unreadable.contains("api_tls_cert_file /srv/covenant/no/such.pem"), "{unreadable}");
    }

    #[test]
    fn the_certificate_and_its_key_come_together() {
        let text = "node_id = \"a-0\"\ndata_dir = \"d\"\nlisten_addr = \"0.0.0.0:7100\"\ngenesis_file = \"g\"\n\
                    consensus_key_file = \"c\"\nnetwork_key_file = \"n\"\napi_tls_cert_file = \"cert.pem\"\n";
        let errors = NodeConfig::from_toml_str(text, &PathBuf::from("/srv/node.toml")).unwrap_err().to_string();
        assert!(errors.contains("api_tls_key_file") && errors.contains("api_tls_cert_file"), "{errors}");
    }
}
