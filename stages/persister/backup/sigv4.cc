#include "stages/persister/backup/sigv4.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdint>
#include <map>

namespace stages::persister::backup::sigv4 {

namespace {

char lowerAscii(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), lowerAscii);
  return out;
}

bool unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Trims spaces and tabs and collapses inner runs of spaces to one (SigV4 "Trimall").
std::string trimAll(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

bool sameName(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lowerAscii(x) == lowerAscii(y);
         });
}

// Lowercase name -> values in the order given. std::map orders names bytewise, as SigV4 sorts.
std::map<std::string, std::vector<std::string>> groupHeaders(const HeaderList& headers) {
  std::map<std::string, std::vector<std::string>> grouped;
  for (const auto& [name, value] : headers) grouped[lower(name)].push_back(trimAll(value));
  return grouped;
}

}  // namespace

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

std::string sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // EVP_Digest only fails on allocation failure; an empty result then fails every signature check
  // loudly instead of signing garbage.
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) return {};
  return hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
           &length) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(mac), length);
}

std::string uriEncode(std::string_view text, bool encode_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (unreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0x0f]);
    }
  }
  return out;
}

std::string encodePath(std::string_view path) { return uriEncode(path, /*encode_slash=*/false); }

std::string canonicalQueryString(const QueryList& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(uriEncode(name, true), uriEncode(value, true));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string signedHeaderNames(const HeaderList& headers) {
  std::string out;
  for (const auto& entry : groupHeaders(headers)) {
    if (!out.empty()) out.push_back(';');
    out += entry.first;
  }
  return out;
}

std::string canonicalHeaders(const HeaderList& headers) {
  std::string out;
  for (const auto& [name, values] : groupHeaders(headers)) {
    out += name;
    out.push_back(':');
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += values[i];
    }
    out.push_back('\n');
  }
  return out;
}

std::string canonicalRequest(const Request& request) {
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, request.canonical_uri,
                     canonicalQueryString(request.query), canonicalHeaders(request.headers),
                     signedHeaderNames(request.headers), request.payload_sha256);
}

std::string amzDate(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto seconds = floor<std::chrono::seconds>(time);
  const auto day = floor<days>(seconds);
  const year_month_day date{day};
  const hh_mm_ss clock{seconds - day};
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     clock.hours().count(), clock.minutes().count(), clock.seconds().count());
}

std::string credentialScope(std::string_view date, std::string_view region,
                            std::string_view service) {
  return fmt::format("{}/{}/{}/aws4_request", date, region, service);
}

std::string stringToSign(std::string_view amz_date, std::string_view credential_scope,
                         std::string_view canonical_request) {
  return fmt::format("{}\n{}\n{}\n{}", kAlgorithm, amz_date, credential_scope,
                     sha256Hex(canonical_request));
}

std::string signingKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service) {
  std::string seed = "AWS4";
  seed += secret;
  std::string key = hmacSha256(seed, date);
  OPENSSL_cleanse(seed.data(), seed.size());  // the secret must not linger in freed memory
  key = hmacSha256(key, region);
  key = hmacSha256(key, service);
  return hmacSha256(key, "aws4_request");
}

std::string signature(std::string_view secret, std::string_view date, std::string_view region,
                      std::string_view service, std::string_view string_to_sign) {
  std::string key = signingKey(secret, date, region, service);
  std::string mac = hmacSha256(key, string_to_sign);
  OPENSSL_cleanse(key.data(), key.size());
  return hex(mac);
}

HeaderList sign(Request request, const Credentials& credentials, std::string_view region,
                std::string_view service, std::chrono::system_clock::time_point time) {
  const std::string amz_date = amzDate(time);
  const std::string_view date = std::string_view(amz_date).substr(0, 8);

  auto drop = [&](std::string_view name) {
    std::erase_if(request.headers,
                  [&](const auto& header) { return sameName(header.first, name); });
  };
  drop("authorization");
  drop("x-amz-date");
  drop("x-amz-content-sha256");
  drop("x-amz-security-token");
  request.headers.emplace_back("x-amz-date", amz_date);
  request.headers.emplace_back("x-amz-content-sha256", request.payload_sha256);
  if (!credentials.session_token.empty()) {
    request.headers.emplace_back("x-amz-security-token", credentials.session_token);
  }

  const std::string scope = credentialScope(date, region, service);
  const std::string to_sign = stringToSign(amz_date, scope, canonicalRequest(request));
  const std::string signed_names = signedHeaderNames(request.headers);
  request.headers.emplace_back(
      "Authorization",
      fmt::format("{} Credential={}/{}, SignedHeaders={}, Signature={}", kAlgorithm,
                  credentials.access_key_id, scope, signed_names,
                  signature(credentials.secret_access_key, date, region, service, to_sign)));
  return std::move(request.headers);
}

}  // namespace stages::persister::backup::sigv4
