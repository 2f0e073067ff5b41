#include "server/zk/sasl_users.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace synod::zk {
namespace {

// The login module whose user_ options are users, as ZooKeeper names it.
constexpr absl::string_view kDigestModule = "org.apache.zookeeper.server.auth.DigestLoginModule";
constexpr absl::string_view kServerSection = "Server";
constexpr absl::string_view kUserPrefix = "user_";

struct Token {
  enum Kind { kWord, kQuoted, kPunct, kEnd } kind = kEnd;
  std::string text;  // a word, a quoted string's contents, or one of { } ; =
  int line = 0;
};

absl::Status Bad(int line, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", why));
}

// Java's ConfigFile reads the file with a StreamTokenizer: words, "quoted
// strings" (backslash escapes the next character), the punctuation { } ; =
// and comments. Quoted contents may be passwords: never put in a message.
absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view text) {
  std::vector<Token> out;
  int line = 1;
  size_t i = 0;
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') ++line;
    if (is_space(c)) {
      ++i;
    } else if (c == '#' || (c == '/' && i + 1 < text.size() && text[i + 1] == '/')) {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      const int start = line;
      i += 2;
      while (i + 1 < text.size() && !(text[i] == '*' && text[i + 1] == '/')) {
        if (text[i] == '\n') ++line;
        ++i;
      }
      if (i + 1 >= text.size()) return Bad(start, "unterminated /* comment");
      i += 2;
    } else if (c == '{' || c == '}' || c == ';' || c == '=') {
      out.push_back(Token{Token::kPunct, std::string(1, c), line});
      ++i;
    } else if (c == '"') {
      const int start = line;
      std::string s;
      ++i;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\n') return Bad(start, "a quoted string runs past the end of its line");
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        s.push_back(text[i]);
        ++i;
        if (s.size() > kMaxSaslFieldBytes) return Bad(start, "a quoted string is too long");
      }
      if (i >= text.size()) return Bad(start, "unterminated quoted string");
      ++i;
      out.push_back(Token{Token::kQuoted, std::move(s), start});
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Bad(line, "a control character outside a quoted string");
    } else {
      std::string s;
      while (i < text.size() && static_cast<unsigned char>(text[i]) > 0x20 &&
             text[i] != 0x7f && std::strchr("{};=\"#", text[i]) == nullptr &&
             !(text[i] == '/' && i + 1 < text.size() && (text[i + 1] == '/' || text[i + 1] == '*'))) {
        s.push_back(text[i++]);
        if (s.size() > kMaxSaslFieldBytes) return Bad(line, "a word is too long");
      }
      out.push_back(Token{Token::kWord, std::move(s), line});
    }
  }
  out.push_back(Token{Token::kEnd, "", line});
  return out;
}

bool IsPunct(const Token& t, char c) { return t.kind == Token::kPunct && t.text[0] == c; }

absl::Status CheckUserName(int line, absl::string_view name) {
  if (name.empty()) return Bad(line, "an empty user name (user_=...)");
  if (name.size() > kMaxSaslFieldBytes) return Bad(line, "a user name is too long");
  for (char c : name) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '@') {
      return Bad(line, absl::StrCat("user name \"", name,
                                    "\" holds a space, a control character or '@'"));
    }
  }
  return absl::OkStatus();
}

// Parser over the tokens: Section { Entry* } ; where Entry is
// ModuleClass Flag (key = value)* ;
class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<SaslUsers> Parse() {
    bool saw_server = false;
    while (Peek().kind != Token::kEnd) {
      const Token& name = Next();
      if (name.kind != Token::kWord) return Bad(name.line, "expected a section name");
      if (!IsPunct(Next(), '{')) return Bad(name.line, "expected '{' after the section name");
      const bool server = name.text == kServerSection;
      if (server && saw_server) return Bad(name.line, "a second Server section");
      saw_server = saw_server || server;
      while (!IsPunct(Peek(), '}')) {
        SYNOD_RETURN_IF_ERROR(ParseEntry(server));
      }
      Next();  // '}'
      if (!IsPunct(Next(), ';')) return Bad(Last().line, "expected ';' after '}'");
    }
    if (!saw_server) return Bad(Last().line, "no Server section");
    if (users_.empty()) {
      return Bad(Last().line, absl::StrCat("the Server section has no user_<name>=\"<password>\" "
                                           "option of ", kDigestModule));
    }
    return std::move(users_);
  }

 private:
  const Token& Peek() const { return tokens_[pos_]; }
  const Token& Last() const { return tokens_[pos_ == 0 ? 0 : pos_ - 1]; }
  const Token& Next() {
    const Token& t = tokens_[pos_];
    if (t.kind != Token::kEnd) ++pos_;
    return t;
  }

  absl::Status ParseEntry(bool server) {
    const Token& module = Next();
    if (module.kind != Token::kWord) return Bad(module.line, "expected a login module class");
    const Token& flag = Next();
    if (flag.kind != Token::kWord ||
        (flag.text != "required" && flag.text != "requisite" && flag.text != "sufficient" &&
         flag.text != "optional")) {
      return Bad(flag.line, "expected required, requisite, sufficient or optional after the "
                            "login module class");
    }
    const bool digest = server && module.text == kDigestModule;
    while (!IsPunct(Peek(), ';')) {
      const Token& key = Next();
      if (key.kind != Token::kWord) return Bad(key.line, "expected an option name or ';'");
      if (!IsPunct(Next(), '=')) return Bad(key.line, "expected '=' after an option name");
      const Token& value = Next();
      if (value.kind != Token::kWord && value.kind != Token::kQuoted) {
        return Bad(key.line, "expected an option value");
      }
      if (!digest || !absl::StartsWith(key.text, kUserPrefix)) continue;
      const std::string user = key.text.substr(kUserPrefix.size());
      SYNOD_RETURN_IF_ERROR(CheckUserName(key.line, user));
      if (value.text.empty()) {
        return Bad(key.line, absl::StrCat("user \"", user, "\" has an empty password"));
      }
      if (users_.size() >= kMaxSaslUsers) return Bad(key.line, "too many users");
      if (!users_.emplace(user, value.text).second) {
        return Bad(key.line, absl::StrCat("user \"", user, "\" is named twice"));
      }
    }
    Next();  // ';'
    return absl::OkStatus();
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  SaslUsers users_;
};

}  // namespace

absl::StatusOr<SaslUsers> ParseJaasUsers(absl::string_view text) {
  SYNOD_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(text));
  return Parser(std::move(tokens)).Parse();
}

absl::StatusOr<SaslUsers> LoadSaslUsers(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string why = absl::StrCat("cannot read the SASL users file ", path, ": ",
                                         std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(why) : absl::PermissionDeniedError(why);
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<SaslUsers> users = ParseJaasUsers(text.str());
  if (!users.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SASL users file ", path, ": ", users.status().message()));
  }
  return users;
}

}  // namespace synod::zk
