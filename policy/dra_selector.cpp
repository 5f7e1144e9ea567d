// A deliberately small CEL reader: tokens, top-level `&&` splitting and a few exact token
// patterns. Anything else (||, ?:, !, functions, escapes, numbers) narrows nothing, so a selector
// can only ever be charged as broader than it is, never narrower.
#include "policy/dra_selector.hpp"

#include <algorithm>

namespace exportgate::policy {

namespace {

enum class Tok { kIdent, kString, kOp, kOther };

struct Token {
  Tok type;
  std::string text;  // identifier, string contents (unquoted), or operator
};

// Expressions are bounded by the API (10 KiB); this bounds what a forged one costs here.
constexpr size_t kMaxExpression = 64 * 1024;
constexpr int kMaxDepth = 32;

bool ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool ident_char(char c) {
  return ident_start(c) || (c >= '0' && c <= '9');
}

// False when the expression holds something the token patterns must not guess about (escapes).
bool tokenize(std::string_view s, std::vector<Token>& out) {
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
    } else if (ident_start(c)) {
      size_t j = i;
      while (j < s.size() && ident_char(s[j])) ++j;
      out.push_back({Tok::kIdent, std::string(s.substr(i, j - i))});
      i = j;
    } else if (c == '\'' || c == '"') {
      size_t j = i + 1;
      while (j < s.size() && s[j] != c) {
        if (s[j] == '\\' || s[j] == '\n') return false;
        ++j;
      }
      if (j >= s.size()) return false;
      out.push_back({Tok::kString, std::string(s.substr(i + 1, j - i - 1))});
      i = j + 1;
    } else if (c >= '0' && c <= '9') {
      size_t j = i;
      while (j < s.size() && (ident_char(s[j]) || s[j] == '.')) ++j;
      out.push_back({Tok::kOther, std::string(s.substr(i, j - i))});
      i = j;
    } else {
      const std::string_view two = s.substr(i, 2);
      if (two == "==" || two == "!=" || two == "&&" || two == "||" || two == "<=" || two == ">=") {
        out.push_back({Tok::kOp, std::string(two)});
        i += 2;
      } else {
        out.push_back({Tok::kOp, std::string(1, c)});
        ++i;
      }
    }
  }
  return true;
}

using Span = std::pair<size_t, size_t>;  // [first, last) into the token vector

bool is_op(const Token& t, std::string_view op) {
  return t.type == Tok::kOp && t.text == op;
}

int depth_change(const Token& t) {
  if (t.type != Tok::kOp || t.text.size() != 1) return 0;
  switch (t.text[0]) {
    case '(':
    case '[':
    case '{':
      return 1;
    case ')':
    case ']':
    case '}':
      return -1;
    default:
      return 0;
  }
}

// Splits [first, last) on `op` at bracket depth 0; empty when brackets do not balance.
std::vector<Span> split_top(const std::vector<Token>& t, Span span, std::string_view op) {
  std::vector<Span> parts;
  int depth = 0;
  size_t start = span.first;
  for (size_t i = span.first; i < span.second; ++i) {
    depth += depth_change(t[i]);
    if (depth < 0) return {};
    if (depth == 0 && is_op(t[i], op)) {
      parts.push_back({start, i});
      start = i + 1;
    }
  }
  if (depth != 0) return {};
  parts.push_back({start, span.second});
  return parts;
}

bool has_top_level(const std::vector<Token>& t, Span span, std::string_view op) {
  return split_top(t, span, op).size() != 1;
}

// True when [first, last) is "( ... )" with the parentheses matching each other.
bool wrapped(const std::vector<Token>& t, Span span) {
  if (span.second - span.first < 2 || !is_op(t[span.first], "(") ||
      !is_op(t[span.second - 1], ")")) {
    return false;
  }
  int depth = 0;
  for (size_t i = span.first; i < span.second; ++i) {
    depth += depth_change(t[i]);
    if (depth == 0 && i + 1 < span.second) return false;
  }
  return true;
}

// Matches `device.driver` or `device.attributes['domain'].name` / `['domain']['name']` exactly
// over [first, last). Returns "" for the driver, the qualified attribute name otherwise, nullopt
// when the span is neither.
std::optional<std::string> device_field(const std::vector<Token>& t, Span span) {
  const size_t n = span.second - span.first;
  auto at = [&](size_t k) -> const Token& { return t[span.first + k]; };
  if (n < 3 || at(0).type != Tok::kIdent || at(0).text != "device" || !is_op(at(1), ".")) {
    return std::nullopt;
  }
  if (n == 3 && at(2).type == Tok::kIdent && at(2).text == "driver") return std::string();
  if (at(2).type != Tok::kIdent || at(2).text != "attributes") return std::nullopt;
  if (n < 6 || !is_op(at(3), "[") || at(4).type != Tok::kString || !is_op(at(5), "]")) {
    return std::nullopt;
  }
  const std::string& domain = at(4).text;
  if (n == 8 && is_op(at(6), ".") && at(7).type == Tok::kIdent) return domain + "/" + at(7).text;
  if (n == 9 && is_op(at(6), "[") && at(7).type == Tok::kString && is_op(at(8), "]")) {
    return domain + "/" + at(7).text;
  }
  return std::nullopt;
}

// `[ 'a', 'b' ]` over the span -> {"a", "b"}; nullopt for anything else.
std::optional<std::vector<std::string>> string_list(const std::vector<Token>& t, Span span) {
  if (span.second - span.first < 2 || !is_op(t[span.first], "[") ||
      !is_op(t[span.second - 1], "]")) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  size_t i = span.first + 1;
  const size_t end = span.second - 1;
  while (i < end) {
    if (t[i].type != Tok::kString) return std::nullopt;
    out.push_back(t[i].text);
    ++i;
    if (i < end) {
      if (!is_op(t[i], ",")) return std::nullopt;
      ++i;
    }
  }
  return out;
}

struct Comparison {
  std::string field;  // "" = driver
  std::vector<std::string> values;
};

// `field == 'v'`, `'v' == field`, `field in ['a', 'b']`.
std::optional<Comparison> comparison(const std::vector<Token>& t, Span span) {
  for (size_t i = span.first; i < span.second; ++i) {
    const bool eq = is_op(t[i], "==");
    const bool in = t[i].type == Tok::kIdent && t[i].text == "in";
    if (!eq && !in) continue;
    const Span left{span.first, i};
    const Span right{i + 1, span.second};
    if (eq) {
      if (auto f = device_field(t, left);
          f && right.second - right.first == 1 && t[right.first].type == Tok::kString) {
        return Comparison{*f, {t[right.first].text}};
      }
      if (auto f = device_field(t, right);
          f && left.second - left.first == 1 && t[left.first].type == Tok::kString) {
        return Comparison{*f, {t[left.first].text}};
      }
      return std::nullopt;
    }
    auto f = device_field(t, left);
    auto list = string_list(t, right);
    if (f && list) return Comparison{*f, std::move(*list)};
    return std::nullopt;
  }
  return std::nullopt;
}

std::vector<std::string> intersect(const std::vector<std::string>& a,
                                   const std::vector<std::string>& b) {
  std::vector<std::string> out;
  for (const auto& v : a) {
    if (std::find(b.begin(), b.end(), v) != b.end()) out.push_back(v);
  }
  return out;
}

std::string text_of(const std::vector<Token>& t, Span span) {
  std::string out;
  for (size_t i = span.first; i < span.second; ++i) {
    if (!out.empty()) out += ' ';
    out += t[i].type == Tok::kString ? "'" + t[i].text + "'" : t[i].text;
  }
  return out;
}

void analyse(const std::vector<Token>& t, Span span, DraRequirements& into, int depth) {
  if (span.first >= span.second) return;
  // ?: and || bind more loosely than &&: with either at the top, no conjunct is required.
  if (depth > kMaxDepth || has_top_level(t, span, "?") || has_top_level(t, span, "||")) {
    into.ignored.push_back(text_of(t, span));
    return;
  }
  const auto parts = split_top(t, span, "&&");
  if (parts.empty()) {
    into.ignored.push_back(text_of(t, span));
    return;
  }
  for (const Span& part : parts) {
    if (wrapped(t, part)) {
      analyse(t, {part.first + 1, part.second - 1}, into, depth + 1);
      continue;
    }
    auto c = comparison(t, part);
    if (!c) {
      into.ignored.push_back(text_of(t, part));
      continue;
    }
    if (c->field.empty()) {
      into.drivers = into.drivers ? intersect(*into.drivers, c->values) : c->values;
      continue;
    }
    auto existing =
        std::find_if(into.attributes.begin(), into.attributes.end(),
                     [&](const DraAttributeRequirement& r) { return r.attribute == c->field; });
    if (existing != into.attributes.end()) {
      existing->values = intersect(existing->values, c->values);
    } else {
      into.attributes.push_back({c->field, std::move(c->values)});
    }
  }
}

}  // namespace

void DraRequirements::add_selector(std::string_view expression) {
  std::vector<Token> tokens;
  if (expression.empty() || expression.size() > kMaxExpression || !tokenize(expression, tokens)) {
    ignored.emplace_back(expression.size() > 200 ? expression.substr(0, 200) : expression);
    return;
  }
  analyse(tokens, {0, tokens.size()}, *this, 0);
}

bool DraRequirements::allows_driver(std::string_view driver) const {
  return !drivers || std::find(drivers->begin(), drivers->end(), driver) != drivers->end();
}

}  // namespace exportgate::policy
