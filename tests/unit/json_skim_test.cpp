// skim::build_value builds the same DOM as nlohmann::json::parse, and rejects what the skimmer
// does not vouch for; skip_string's 16-byte scan stops at the same bytes as the byte loop.
#include "webhook/json_skim.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

using nlohmann::json;
namespace skim = exportgate::webhook::skim;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value `text` holds, through build_value; nullopt when it gives up.
std::optional<json> built(std::string_view text) {
  json out;
  const char* end = text.data() + text.size();
  const char* e = skim::build_value(text.data(), end, out);
  if (!e || skim::skip_ws(e, end) != end) return std::nullopt;
  return out;
}

void expect_same_as_nlohmann(std::string_view text) {
  auto b = built(text);
  ASSERT_TRUE(b) << text.substr(0, 200);
  const json p = json::parse(text);
  EXPECT_EQ(*b, p) << text.substr(0, 200);
  // Same types too (json's == treats 1 and 1u and 1.0 as equal): dump tells them apart.
  EXPECT_EQ(b->dump(), p.dump()) << text.substr(0, 200);
}

TEST(JsonSkimBuild, SameValuesAndTypesAsNlohmann) {
  for (const char* text : {"0",
                           "-0",
                           "7",
                           "-7",
                           "123456789012345678",
                           "-123456789012345678",
                           "1234567890123456789",
                           "18446744073709551615",
                           "18446744073709551616",
                           "-9223372036854775808",
                           "-9223372036854775809",
                           "1.5",
                           "-1.5e+3",
                           "1E2",
                           "0.0",
                           "1e-400",
                           "\"\"",
                           "\"plain\"",
                           "\"a\\\"b\\u00e9\\n\\/\"",
                           "true",
                           "false",
                           "null",
                           "[]",
                           "{}",
                           "[1,\"x\",[],{},null,true,false,-2.5]",
                           "{\"a\":[1,{\"b\":null}],\"k:{\\\"x\\\"}\":false}",
                           "{\"dup\":1,\"dup\":{\"x\":2}}",
                           "{\"dup\":[1],\"dup\":\"last\"}",
                           "{ \"s p a c e\" : [ 1 , 2 ] , \"t\" :\t\"\\t\" }",
                           "\"0123456789abcdef0123456789abcdef\\\\tail of a longer string\""}) {
    expect_same_as_nlohmann(text);
  }
}

TEST(JsonSkimBuild, SameAsNlohmannOnEveryBenchmarkReview) {
  const auto dir = std::filesystem::path(EXPORTGATE_SOURCE_DIR) / "bench/reviews";
  int n = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() != ".json") continue;
    expect_same_as_nlohmann(read_file(f.path()));
    ++n;
  }
  EXPECT_GE(n, 8);
}

TEST(JsonSkimBuild, RejectsWhatTheSkimmerRejects) {
  for (const char* bad : {"01", "1.", "-", "\"a", "\"\\x\"", "\"\\u12g4\"", "tru", "nul", "[1,]",
                          "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "\"caf\xc3\xa9\"", "\"tab\there\""}) {
    EXPECT_FALSE(built(bad)) << bad;
  }
  std::string deep(200, '[');
  deep += std::string(200, ']');
  EXPECT_FALSE(built(deep));
}

// What nlohmann refuses beyond RFC 8259's grammar, the skimmer must refuse too, in values it
// skips as much as in those it keeps: else a review would be decided on the fast path but
// answered 400 on the full one (found by fuzz_admission_skim).
TEST(JsonSkimBuild, RefusesLoneSurrogatesAndNumbersBeyondDouble) {
  for (const char* bad :
       {"\"\\ud800\"", "\"\\udc00\"", "\"\\ud800x\"", "\"\\ud800\\n\"", "\"\\ud800\\u0041\"",
        "\"\\udbff\\ud800\"", "1e400", "-1e400", "1.5E+309", "1e+400"}) {
    EXPECT_FALSE(built(bad)) << bad;
    const std::string_view t(bad);
    EXPECT_EQ(skim::skip_value(t.data(), t.data() + t.size()), nullptr) << bad;
  }
  const std::string huge = std::string(400, '9');
  EXPECT_FALSE(built(huge));
  EXPECT_FALSE(built(std::string(250, '9') + "e100"));
  EXPECT_THROW(static_cast<void>(json::parse(huge).is_null()), json::exception);  // full path: 400
  // A surrogate pair is valid JSON (U+1F600 here) and stays on the fast path, equal to nlohmann.
  expect_same_as_nlohmann("\"smile \\ud83d\\ude00 ok\"");
  expect_same_as_nlohmann("[1e200, -2.5e-200, 123456789012345678901234567890]");
}

// Every stop byte at every offset of a long string, so that both the 16-byte blocks and the
// byte loop of the tail see it. Each string has a closing quote further on, so a scan that ran
// past the stop byte would end the string there instead of where (or whether) it must.
TEST(JsonSkimBuild, StringScanStopsAtTheFirstSpecialByte) {
  for (unsigned char stop : {'"', '\\', '\n', '\x01', '\x1f', '\x80', '\xff'}) {
    for (size_t at = 0; at < 40; ++at) {
      // A backslash here escapes a quote: the string goes on past it to the last quote.
      const std::string special = stop == '\\' ? std::string("\\\"") : std::string(1, stop);
      const std::string s = "\"" + std::string(at, 'a') + special + std::string(40, 'b') + "\"";
      bool escaped = false;
      const char* e = skim::skip_string(s.data(), s.data() + s.size(), escaped);
      if (stop == '"') {
        EXPECT_EQ(e, s.data() + at + 2) << at;
        EXPECT_FALSE(escaped) << at;
      } else if (stop == '\\') {
        EXPECT_EQ(e, s.data() + s.size()) << "escaped quote taken for the end at " << at;
        EXPECT_TRUE(escaped) << at;
      } else {
        EXPECT_EQ(e, nullptr) << static_cast<int>(stop) << " at " << at;
      }
    }
  }
  // 0x7f and 0x20 are ordinary string bytes.
  std::string s = "\"" + std::string(20, '\x7f') + std::string(20, ' ') + "\"";
  bool escaped = false;
  EXPECT_EQ(skim::skip_string(s.data(), s.data() + s.size(), escaped), s.data() + s.size());
  EXPECT_FALSE(escaped);
}

}  // namespace
