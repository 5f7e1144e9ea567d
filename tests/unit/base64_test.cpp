// base64_decode (OpenSSL's EVP_DecodeBlock with the checks it lacks): RFC 4648 vectors, the
// line breaks kubeconfig data may carry, and refusals of what is not base64.
#include "webhook/base64.hpp"

#include <gtest/gtest.h>

#include <string>

#include "webhook/admission_codec.hpp"

namespace wh = exportgate::webhook;

TEST(Base64, DecodesTheRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"Zg==", "f"},
      {"Zm8=", "fo"},
      {"Zm9v", "foo"},
      {"Zm9vYg==", "foob"},
      {"Zm9vYmE=", "fooba"},
      {"Zm9vYmFy", "foobar"},
  };
  for (const auto& [encoded, plain] : vectors) {
    EXPECT_EQ(wh::base64_decode(encoded), std::optional<std::string>(plain)) << encoded;
  }
}

TEST(Base64, RoundTripsEveryByteWithTheEncoder) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= bytes.size(); n += 37) {
    const std::string part = bytes.substr(0, n);
    EXPECT_EQ(wh::base64_decode(wh::base64_encode(part)), std::optional<std::string>(part)) << n;
  }
}

TEST(Base64, LineBreaksAndSpacesAreIgnored) {
  EXPECT_EQ(wh::base64_decode("Zm9v\nYmFy\n"), std::optional<std::string>("foobar"));
  EXPECT_EQ(wh::base64_decode(" Zm9v\r\nYg==\n"), std::optional<std::string>("foob"));
}

TEST(Base64, WhatIsNotBase64IsRefused) {
  for (const char* bad : {"Zm9", "Zg", "Zg=a", "Z===", "=Zm9", "Zm9v=", "!!!!", "Zm9v$mFy", "Zm-v",
                          "Zm_v", "Zg==Zg=="}) {
    EXPECT_EQ(wh::base64_decode(bad), std::nullopt) << bad;
  }
}
