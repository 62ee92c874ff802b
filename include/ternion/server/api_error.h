// Errors of the HTTP API: an HTTP status with the OpenAI error object
// {"error": {"message", "type", "param", "code"}} (or Ollama's {"error": "message"} on its routes).
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "ternion/core/error.h"

namespace ternion::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type, std::string param = "", std::string code = "")
      : std::runtime_error(one_line_message(message)),
        status_(status),
        type_(std::move(type)),
        param_(std::move(param)),
        code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }

  // The response body.
  nlohmann::json body() const;
  // The body as Ollama sends it: {"error": "message"}.
  nlohmann::json ollama_body() const { return {{"error", what()}}; }

 private:
  int status_;
  std::string type_, param_, code_;
};

// 400 invalid_request_error naming the offending field.
ApiError bad_request(const std::string& message, const std::string& param = "");
// 404 for an unknown model.
ApiError model_not_found(const std::string& model);
// 503 while the server cannot take the request (loading, queue full).
ApiError unavailable(const std::string& message, const std::string& code);

}  // namespace ternion::server
