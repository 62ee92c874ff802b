#include "convert/hf_naming.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <vector>

namespace ternion {

namespace {

enum Kind : unsigned { kBasename = 1, kSizeLabel = 2, kFinetune = 4, kVersion = 8, kType = 16 };

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }
bool is_word(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

// Hand-written forms of the converter's regexes (all matched whole and case-insensitively). `i` walks the string.
size_t digits(std::string_view s, size_t i) {
  while (i < s.size() && is_digit(s[i])) ++i;
  return i;
}

// (v|iter)?\d+([.]\d+)*
bool is_version(std::string_view s) {
  size_t i = 0;
  if (!s.empty() && lower(s[0]) == 'v') {
    i = 1;
  } else if (s.size() >= 4 && lower(s[0]) == 'i' && lower(s[1]) == 't' && lower(s[2]) == 'e' && lower(s[3]) == 'r') {
    i = 4;
  }
  size_t j = digits(s, i);
  if (j == i) return false;
  while (j < s.size() && s[j] == '.') {
    const size_t k = digits(s, j + 1);
    if (k == j + 1) return false;
    j = k;
  }
  return j == s.size();
}

// i?q\d(_\w)*|b?fp?(16|32)
bool is_type(std::string_view s) {
  size_t i = !s.empty() && lower(s[0]) == 'i' ? 1 : 0;
  if (i < s.size() && lower(s[i]) == 'q' && i + 1 < s.size() && is_digit(s[i + 1])) {
    for (i += 2; i + 1 < s.size() && s[i] == '_' && is_word(s[i + 1]); i += 2) {
    }
    if (i == s.size()) return true;
  }
  i = !s.empty() && lower(s[0]) == 'b' ? 1 : 0;
  if (i >= s.size() || lower(s[i]) != 'f') return false;
  ++i;
  if (i < s.size() && lower(s[i]) == 'p') ++i;
  const std::string_view rest = s.substr(i);
  return rest == "16" || rest == "32";
}

// ([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl
bool is_size(std::string_view s) {
  std::string l(s);
  for (char& c : l) c = lower(c);
  if (l == "small" || l == "mini" || l == "medium" || l == "large" || l == "xl" || l == "xxl") return true;
  size_t i = 0;
  if (!l.empty() && l[0] == 'a') {
    i = 1;
  } else if (const size_t x = digits(l, 0); x > 0 && x < l.size() && l[x] == 'x') {
    i = x + 1;
  }
  size_t j = digits(l, i);
  if (j == i) return false;
  if (j < l.size() && (l[j] == '.' || l[j] == '_')) {
    const size_t k = digits(l, j + 1);
    if (k == j + 1) return false;
    j = k;
  }
  if (j >= l.size() || std::string_view("kmbt").find(l[j]) == std::string_view::npos) return false;
  ++j;
  if (j < l.size() && is_digit(l[j])) ++j;
  return j == l.size();
}

bool is_finetune_word(std::string_view s) {
  std::string l(s);
  for (char& c : l) c = lower(c);
  return l == "chat" || l == "instruct" || l == "vision" || l == "lora";
}

// ^(v\d+(?:\.\d+)*|\d.*)$ (case-sensitive): a version or something that starts with a number.
bool keeps_case(std::string_view w) {
  if (!w.empty() && is_digit(w[0])) return true;
  return !w.empty() && w[0] == 'v' && is_version(w);
}

// A size part of the id ("7B", "8x7b", "135m", "7b1"), normalised as the converter does; marks it a fine-tune when
// it is far from the real parameter count (then it is more likely a context length such as "32k").
std::string size_part(std::string part, uint64_t total_params, unsigned& kinds) {
  std::replace(part.begin(), part.end(), '_', '.');
  if (is_digit(part.back()) && part.size() >= 2) {  // bloom-7b1 -> 7.1b
    part = part.substr(0, part.size() - 2) + "." + part.back() + part[part.size() - 2];
  }
  if (part.size() > 1 && is_digit(part[part.size() - 2]) &&
      std::string_view("kmbt").find(part.back()) != std::string::npos) {
    part.back() = static_cast<char>(std::toupper(static_cast<unsigned char>(part.back())));
  }
  if (total_params != 0) {
    const std::string number = part.substr(0, part.size() - 1);
    char* end = nullptr;
    const double value = number.empty() ? 0.0 : std::strtod(number.c_str(), &end);
    if (!number.empty() && end == number.c_str() + number.size()) {
      const size_t scale = std::string_view(" KMBT").find(part.back());
      const double label =
          value * std::pow(1000.0, scale == std::string_view::npos ? -1.0 : static_cast<double>(scale));
      const auto total = static_cast<double>(total_params);
      if (std::abs(label - total) > static_cast<double>(7 * total_params / 8)) {
        kinds |= kFinetune;
        part.back() = static_cast<char>(std::tolower(static_cast<unsigned char>(part.back())));
      }
    }
  }
  if (kinds == 0) kinds |= kSizeLabel;
  return part;
}

struct IdComponents {
  std::optional<std::string> full, organization, basename, finetune, version, size_label;
};

std::optional<std::string> join(const std::vector<std::string>& parts, const std::vector<unsigned>& kinds,
                                unsigned want, unsigned exclude = 0, bool dedupe = false) {
  std::string out;
  std::set<std::string> seen;
  for (size_t i = 0; i < parts.size(); ++i) {
    if ((kinds[i] & want) == 0 || (kinds[i] & exclude) != 0) continue;
    if (dedupe && !seen.insert(parts[i]).second) continue;
    out += (out.empty() ? "" : "-") + parts[i];
  }
  return out.empty() ? std::nullopt : std::optional<std::string>(out);
}

IdComponents id_components(const std::string& id, uint64_t total_params) {
  IdComponents c;
  if (id.find(' ') != std::string::npos) {
    c.full = id;
    return c;
  }
  std::string full = id;
  if (const size_t slash = id.find('/'); slash != std::string::npos) {
    c.organization = id.substr(0, slash);
    full = id.substr(slash + 1);
    if (!c.organization->empty() && (*c.organization)[0] == '.') c.organization.reset();
  }
  c.full = full;
  std::vector<std::string> parts;
  for (size_t start = 0; start <= full.size();) {
    const size_t dash = std::min(full.find('-', start), full.size());
    if (dash > start) parts.push_back(full.substr(start, dash - start));
    start = dash + 1;
  }
  std::vector<unsigned> kinds(parts.size(), 0);
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string& part = parts[i];
    if (is_version(part)) {
      kinds[i] |= kVersion;
    } else if (is_type(part)) {
      kinds[i] |= kType;
      for (char& ch : part) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    } else if (i > 0 && is_size(part)) {
      part = size_part(part, total_params, kinds[i]);
    } else if (i > 0 && is_finetune_word(part)) {
      kinds[i] |= kFinetune;
    }
  }
  // Word sizes ("small") give way to a numeric one.
  bool numeric_size = false;
  for (size_t i = 0; i < parts.size(); ++i) {
    if ((kinds[i] & kSizeLabel) != 0 && std::any_of(parts[i].begin(), parts[i].end(), is_digit)) numeric_size = true;
  }
  for (size_t i = 0; numeric_size && i < parts.size(); ++i) {
    if ((kinds[i] & kSizeLabel) != 0 && std::all_of(parts[i].begin(), parts[i].end(), is_alpha))
      kinds[i] &= ~kSizeLabel;
  }
  bool at_start = true;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (at_start && ((kinds[i] == 0 && is_alpha(parts[i][0])) || (kinds[i] & kVersion) != 0)) {
      kinds[i] |= kBasename;
    } else {
      at_start = false;
      if (kinds[i] == 0) kinds[i] |= kFinetune;
    }
  }
  for (size_t i = parts.size(); i-- > 0;) {  // a trailing version is not part of the base name
    if ((kinds[i] & kBasename) != 0 && kinds[i] != kBasename) {
      kinds[i] &= ~kBasename;
    } else {
      break;
    }
  }
  c.basename = join(parts, kinds, kBasename);
  c.size_label = join(parts, kinds, kSizeLabel, 0, true);
  c.finetune = join(parts, kinds, kFinetune);
  c.version = join(parts, kinds, kVersion, kBasename);
  if (!c.size_label && !c.finetune && !c.version) c.basename.reset();  // too ambiguous
  return c;
}

// Python's str.title(): a letter after a non-letter is upper-cased, every other letter lower-cased.
std::string title(const std::string& word) {
  std::string out = word;
  bool prev_alpha = false;
  for (char& ch : out) {
    const bool alpha = is_alpha(ch);
    if (alpha) {
      ch = static_cast<char>(prev_alpha ? std::tolower(static_cast<unsigned char>(ch))
                                        : std::toupper(static_cast<unsigned char>(ch)));
    }
    prev_alpha = alpha;
  }
  return out;
}

bool is_lower(const std::string& word) {
  bool cased = false;
  for (const char ch : word) {
    if (std::isupper(static_cast<unsigned char>(ch)) != 0) return false;
    cased = cased || std::islower(static_cast<unsigned char>(ch)) != 0;
  }
  return cased;
}

void apply(const IdComponents& c, HfNaming& n, bool& have_name) {
  if (!have_name && c.full) {
    n.name = id_to_title(*c.full);
    have_name = true;
  }
  if (!n.organization && c.organization) n.organization = id_to_title(*c.organization);
  if (!n.basename && c.basename) n.basename = c.basename;
  if (!n.finetune && c.finetune) n.finetune = c.finetune;
  if (!n.version && c.version) n.version = c.version;
  if (!n.size_label && c.size_label) n.size_label = c.size_label;
}

}  // namespace

std::string id_to_title(std::string_view id) {
  std::string s(id);
  std::replace(s.begin(), s.end(), '-', ' ');
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])) != 0) ++i;
    size_t j = i;
    while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j])) == 0) ++j;
    if (j > i) {
      const std::string word = s.substr(i, j - i);
      const bool keep = !is_lower(word) || keeps_case(word);
      out += (out.empty() ? "" : " ") + (keep ? word : title(word));
    }
    i = j;
  }
  return out;
}

std::string parameter_size_label(uint64_t total_params) {
  const auto n = static_cast<double>(total_params);
  double scaled = n * 1e-3;
  const char* suffix = "K";
  if (n > 1e12) {
    scaled = n * 1e-12;
    suffix = "T";
  } else if (n > 1e9) {
    scaled = n * 1e-9;
    suffix = "B";
  } else if (n > 1e6) {
    scaled = n * 1e-6;
    suffix = "M";
  }
  const double rounded = std::nearbyint(scaled);  // ties to even, as Python's round()
  int digits = 0;
  for (double r = rounded; r >= 1.0; r = std::floor(r / 10.0)) ++digits;
  const int fix = std::max(2 - digits, 0);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", fix, scaled, suffix);
  return buf;
}

HfNaming hf_naming(const std::string& dir, const std::optional<std::string>& name_or_path, uint64_t total_params) {
  HfNaming n;
  bool have_name = false;
  if (name_or_path && std::count(name_or_path->begin(), name_or_path->end(), '/') <= 1) {
    apply(id_components(*name_or_path, total_params), n, have_name);
  }
  std::filesystem::path path = std::filesystem::path(dir).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();
  if (path.filename().empty() || path.filename() == "." || path.filename() == "..") {
    std::error_code ec;
    path = std::filesystem::weakly_canonical(std::filesystem::absolute(dir), ec);
  }
  apply(id_components(path.filename().string(), total_params), n, have_name);
  if (!n.size_label && total_params > 0) n.size_label = parameter_size_label(total_params);
  return n;
}

void set_naming_metadata(const HfNaming& naming, GgufMetadata& metadata) {
  metadata.set_string("general.name", naming.name);
  if (naming.version) metadata.set_string("general.version", *naming.version);
  if (naming.organization) metadata.set_string("general.organization", *naming.organization);
  if (naming.finetune) metadata.set_string("general.finetune", *naming.finetune);
  if (naming.basename) metadata.set_string("general.basename", *naming.basename);
  if (naming.size_label) metadata.set_string("general.size_label", *naming.size_label);
}

}  // namespace ternion
