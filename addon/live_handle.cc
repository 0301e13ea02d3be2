#include "live_handle.h"

#include "common.h"

namespace pcap_pipe {
namespace {

// Reads an optional number option; returns false (with a pending TypeError) when it has the wrong type.
bool ReadInt(Napi::Object options, const char* key, int64_t min, int64_t max, int64_t* out) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsNumber()) {
    Napi::TypeError::New(options.Env(), std::string("option ") + key + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || d != static_cast<int64_t>(d)) {
    Napi::RangeError::New(options.Env(), std::string("option ") + key + " must be an integer in " +
                                             std::to_string(min) + ".." + std::to_string(max))
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool ReadBool(Napi::Object options, const char* key, bool* out) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsBoolean()) {
    Napi::TypeError::New(options.Env(), std::string("option ") + key + " must be a boolean").ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

bool ParseOptions(Napi::Object o, LiveOptions* out) {
  Napi::Env env = o.Env();
  Napi::Value device = o.Get("device");
  if (!device.IsString()) {
    Napi::TypeError::New(env, "option device must be a string").ThrowAsJavaScriptException();
    return false;
  }
  out->device = device.As<Napi::String>().Utf8Value();
  int64_t snaplen = out->snaplen, timeout = out->timeoutMs, buffer = out->bufferSize;
  int64_t batchPackets = out->batchPackets, batchBytes = static_cast<int64_t>(out->batchBytes);
  if (!ReadInt(o, "snaplen", 1, 262144, &snaplen) || !ReadInt(o, "timeout", 0, 3600000, &timeout) ||
      !ReadInt(o, "bufferSize", 0, 1LL << 31, &buffer) ||
      !ReadInt(o, "batchPackets", 1, kMaxBatchPackets, &batchPackets) ||
      !ReadInt(o, "batchBytes", 4096, static_cast<int64_t>(kMaxBatchBytes), &batchBytes) ||
      !ReadBool(o, "promiscuous", &out->promiscuous) || !ReadBool(o, "immediate", &out->immediate) ||
      !ReadBool(o, "monitor", &out->monitor) || !ReadBool(o, "nanosecond", &out->nanosecond)) {
    return false;
  }
  out->snaplen = static_cast<int>(snaplen);
  out->timeoutMs = static_cast<int>(timeout);
  out->bufferSize = static_cast<int>(buffer > INT32_MAX ? INT32_MAX : buffer);
  out->batchPackets = static_cast<uint32_t>(batchPackets);
  out->batchBytes = static_cast<size_t>(batchBytes);

  Napi::Value direction = o.Get("direction");
  if (!direction.IsUndefined() && !direction.IsNull()) {
    std::string d = direction.IsString() ? direction.As<Napi::String>().Utf8Value() : "";
    if (d == "in") out->direction = PCAP_D_IN;
    else if (d == "out") out->direction = PCAP_D_OUT;
    else if (d == "inout") out->direction = PCAP_D_INOUT;
    else {
      Napi::TypeError::New(env, "option direction must be 'in', 'out' or 'inout'").ThrowAsJavaScriptException();
      return false;
    }
  }
  Napi::Value filter = o.Get("filter");
  if (filter.IsString()) {
    out->filter = filter.As<Napi::String>().Utf8Value();
    out->hasFilter = !out->filter.empty();
  } else if (!filter.IsUndefined() && !filter.IsNull()) {
    Napi::TypeError::New(env, "option filter must be a string").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

}  // namespace

Napi::Function LiveHandle::Define(Napi::Env env) {
  return DefineClass(env, "LiveHandle",
                     {
                         InstanceMethod<&LiveHandle::Start>("start"),
                         InstanceMethod<&LiveHandle::Pause>("pause"),
                         InstanceMethod<&LiveHandle::Resume>("resume"),
                         InstanceMethod<&LiveHandle::Close>("close"),
                         InstanceMethod<&LiveHandle::ReadBatch>("readBatch"),
                         InstanceMethod<&LiveHandle::WriteTo>("writeTo"),
                         InstanceMethod<&LiveHandle::Drain>("drain"),
                         InstanceMethod<&LiveHandle::Stats>("stats"),
                         InstanceMethod<&LiveHandle::Inject>("inject"),
                         InstanceMethod<&LiveHandle::SetFilter>("setFilter"),
                         InstanceAccessor<&LiveHandle::GetLinkType>("linkType"),
                         InstanceAccessor<&LiveHandle::GetLinkTypeName>("linkTypeName"),
                         InstanceAccessor<&LiveHandle::GetSnaplen>("snaplen"),
                         InstanceAccessor<&LiveHandle::GetNanosecond>("nanosecond"),
                         InstanceAccessor<&LiveHandle::GetWarnings>("warnings"),
                         InstanceAccessor<&LiveHandle::GetClosed>("closed"),
                     });
}

LiveHandle::LiveHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LiveHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsFunction() || !info[2].IsFunction()) {
    Napi::TypeError::New(env, "LiveHandle(options: object, onBatch: Function, onError: Function)")
        .ThrowAsJavaScriptException();
    return;
  }
  LiveOptions options;
  if (!ParseOptions(info[0].As<Napi::Object>(), &options)) return;

  OpenFailure failure;
  session_ = LiveSession::Open(env, options, &warnings_, &failure);
  if (session_ == nullptr) {
    ThrowCoded(env, failure.code, failure.message, failure.reason);
    return;
  }
  linkType_ = session_->linkType();
  snaplen_ = session_->snaplen();
  nanosecond_ = session_->nanosecond();
  session_->Bind(info.This().As<Napi::Object>(), info[1].As<Napi::Function>(), info[2].As<Napi::Function>());
}

LiveHandle::~LiveHandle() {
  if (session_ != nullptr) session_->DetachFacade();
}

LiveSession* LiveHandle::OpenSession(Napi::Env env) {
  if (session_ == nullptr || !session_->IsOpen()) {
    ThrowCoded(env, kCodeLive, "the capture handle is closed", "CLOSED");
    return nullptr;
  }
  return session_;
}

Napi::Value LiveHandle::Start(const Napi::CallbackInfo& info) {
  if (LiveSession* s = OpenSession(info.Env())) s->Start();
  return info.Env().Undefined();
}

// pause/resume on a closed handle are no-ops: a stream may ask after close() ran in a data handler.
Napi::Value LiveHandle::Pause(const Napi::CallbackInfo& info) {
  if (session_ != nullptr) session_->Pause();
  return info.Env().Undefined();
}

Napi::Value LiveHandle::Resume(const Napi::CallbackInfo& info) {
  if (session_ != nullptr) session_->Resume();
  return info.Env().Undefined();
}

Napi::Value LiveHandle::Close(const Napi::CallbackInfo& info) {
  if (session_ != nullptr) session_->Close();
  return info.Env().Undefined();
}

Napi::Value LiveHandle::ReadBatch(const Napi::CallbackInfo& info) {
  if (session_ == nullptr) return Napi::Buffer<uint8_t>::New(info.Env(), 0);
  return session_->ReadBatch(info.Env());
}

Napi::Value LiveHandle::WriteTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "writeTo(fd: number, maxPackets: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int64_t fd = info[0].As<Napi::Number>().Int64Value();
  double maxPackets = info[1].As<Napi::Number>().DoubleValue();
  if (fd < 0 || fd > INT32_MAX || !(maxPackets >= 0)) {
    Napi::RangeError::New(env, "writeTo: fd and maxPackets must be >= 0").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  LiveSession* s = OpenSession(env);
  if (s == nullptr) return env.Undefined();
  std::string error;
  uint64_t limit = maxPackets >= 9007199254740992.0 ? 0 : static_cast<uint64_t>(maxPackets);
  if (!s->WriteTo(static_cast<int>(fd), limit, &error)) ThrowCoded(env, kCodeLive, error);
  return env.Undefined();
}

Napi::Value LiveHandle::Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (session_ == nullptr) return Napi::Number::New(env, 0);
  std::string error;
  int64_t n = session_->DrainToWriterAll(&error);
  if (n < 0) {
    ThrowCoded(env, kCodeLive, error);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value LiveHandle::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (session_ == nullptr) {
    ThrowCoded(env, kCodeLive, "the capture handle was never opened");
    return env.Undefined();
  }
  LiveStats stats;
  std::string error;
  if (!session_->Stats(&stats, &error)) {
    ThrowCoded(env, kCodeLive, "cannot read capture statistics: " + error);
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("received", Napi::Number::New(env, static_cast<double>(stats.received)));
  out.Set("dropped", Napi::Number::New(env, static_cast<double>(stats.dropped)));
  out.Set("ifDropped", Napi::Number::New(env, static_cast<double>(stats.ifDropped)));
  return out;
}

Napi::Value LiveHandle::Inject(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    Napi::TypeError::New(env, "inject(frame: Buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  LiveSession* s = OpenSession(env);
  if (s == nullptr) return env.Undefined();
  Napi::Buffer<uint8_t> frame = info[0].As<Napi::Buffer<uint8_t>>();
  std::string error;
  int written = s->Inject(frame.Data(), frame.Length(), &error);
  if (written < 0) {
    ThrowCoded(env, kCodeLive, "inject failed: " + error);
    return env.Undefined();
  }
  return Napi::Number::New(env, written);
}

Napi::Value LiveHandle::SetFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "setFilter(expression: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  LiveSession* s = OpenSession(env);
  if (s == nullptr) return env.Undefined();
  OpenFailure failure;
  if (!s->SetFilter(info[0].As<Napi::String>().Utf8Value(), &failure)) {
    ThrowCoded(env, failure.code, failure.message, failure.reason);
  }
  return env.Undefined();
}

Napi::Value LiveHandle::GetLinkType(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), linkType_); }

Napi::Value LiveHandle::GetLinkTypeName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), DatalinkName(linkType_));
}

Napi::Value LiveHandle::GetSnaplen(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), snaplen_); }

Napi::Value LiveHandle::GetNanosecond(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), nanosecond_);
}

Napi::Value LiveHandle::GetWarnings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, warnings_.size());
  for (uint32_t i = 0; i < warnings_.size(); i++) out.Set(i, warnings_[i]);
  return out;
}

Napi::Value LiveHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), session_ == nullptr || !session_->IsOpen());
}

}  // namespace pcap_pipe
