// Certificate and key handling with OpenSSL 3 (see tls_certs.hpp).
#include "webhook/tls_certs.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <ctime>
#include <fstream>
#include <sstream>

namespace exportgate::webhook {

std::string openssl_error_text() {
  unsigned long last = 0;
  while (unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TlsError("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

BioPtr memory_bio(const std::string& text) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) throw TlsError("BIO_new_mem_buf: " + openssl_error_text());
  return bio;
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    throw TlsError("cannot add certificate extension " + value + ": " + openssl_error_text());
  }
}

}  // namespace

std::vector<X509Ptr> certificates_from_pem(const std::string& pem, const std::string& origin) {
  auto bio = memory_bio(pem);
  std::vector<X509Ptr> certs;
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(c);
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (certs.empty()) throw TlsError(origin + ": no PEM certificate found");
  return certs;
}

Identity load_identity(const std::string& cert_path, const std::string& key_path) {
  Identity id;
  auto certs = certificates_from_pem(read_file(cert_path), cert_path);
  id.cert = std::move(certs.front());
  for (size_t i = 1; i < certs.size(); ++i) id.chain.push_back(std::move(certs[i]));
  auto key_pem = read_file(key_path);
  auto bio = memory_bio(key_pem);
  id.key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!id.key) throw TlsError(key_path + ": no PEM private key found: " + openssl_error_text());
  if (X509_check_private_key(id.cert.get(), id.key.get()) != 1) {
    ERR_clear_error();
    throw TlsError(key_path + ": private key does not match the certificate in " + cert_path);
  }
  return id;
}

EvpPkeyPtr generate_key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) throw TlsError("EC key generation failed: " + openssl_error_text());
  return key;
}

X509Ptr issue_certificate(const CertificateRequest& request, EVP_PKEY* key, X509* issuer_cert,
                          EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (!cert) throw TlsError("X509_new: " + openssl_error_text());
  X509_set_version(cert.get(), 2);  // v3

  // A random 64-bit serial, so reissued certificates never collide in a client's cache.
  unsigned char serial_bytes[8];
  RAND_bytes(serial_bytes, sizeof serial_bytes);
  serial_bytes[0] &= 0x7f;
  BignumPtr bn(BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr));
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  X509_set_serialNumber(cert.get(), serial.get());

  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60 * 5);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * request.days);
  X509_set_pubkey(cert.get(), key);

  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(request.common_name.c_str()),
                             -1, -1, 0);
  X509* issuer = issuer_cert ? issuer_cert : cert.get();
  EVP_PKEY* signer = issuer_key ? issuer_key : key;
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer));

  add_extension(cert.get(), issuer, NID_basic_constraints,
                request.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_extension(cert.get(), issuer, NID_key_usage,
                request.is_ca ? "critical,keyCertSign,cRLSign,digitalSignature"
                              : "critical,digitalSignature,keyEncipherment");
  if (!request.is_ca) {
    add_extension(cert.get(), issuer, NID_ext_key_usage,
                  request.client_auth ? "clientAuth" : "serverAuth");
  }
  add_extension(cert.get(), issuer, NID_subject_key_identifier, "hash");
  if (!request.sans.empty()) {
    std::string sans;
    for (const auto& s : request.sans) {
      if (!sans.empty()) sans += ",";
      // SAN is mandatory for Kubernetes (no CN fallback since Go 1.15).
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(s.c_str());
      sans += (ip ? "IP:" : "DNS:") + s;
      ASN1_OCTET_STRING_free(ip);
    }
    add_extension(cert.get(), issuer, NID_subject_alt_name, sans);
  }
  if (X509_sign(cert.get(), signer, EVP_sha256()) == 0) {
    throw TlsError("X509_sign: " + openssl_error_text());
  }
  return cert;
}

Identity generate_self_signed(const std::vector<std::string>& extra_dns_names) {
  CertificateRequest req;
  req.sans = {"localhost", "127.0.0.1"};
  req.sans.insert(req.sans.end(), extra_dns_names.begin(), extra_dns_names.end());
  req.days = 365;
  Identity id;
  id.key = generate_key();
  id.cert = issue_certificate(req, id.key.get(), nullptr, nullptr);
  return id;
}

std::string to_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) throw TlsError("PEM_write_bio_X509");
  return bio_to_string(bio.get());
}

std::string to_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw TlsError("PEM_write_bio_PrivateKey");
  }
  return bio_to_string(bio.get());
}

int64_t not_after_unix(const X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::vector<std::string> subject_alt_names(const X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      const auto* s = gn->d.dNSName;
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                         static_cast<size_t>(ASN1_STRING_length(s))));
    } else if (gn->type == GEN_IPADD && gn->d.iPAddress->length == 4) {
      const unsigned char* b = gn->d.iPAddress->data;
      out.push_back("IP:" + std::to_string(b[0]) + "." + std::to_string(b[1]) + "." +
                    std::to_string(b[2]) + "." + std::to_string(b[3]));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

}  // namespace exportgate::webhook
