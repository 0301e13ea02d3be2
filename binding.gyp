{
  # The libpcap addon, Node-API only (NAPI_VERSION below): one binary serves every Node version. `npm pack`
  # ships a prebuilt one (scripts/prebuild.js, prebuildify); at install scripts/build-addon.js uses it when it
  # loads, else builds this (and skips the build, with a warning, when libpcap's headers are missing).
  # Loaded only by addon/index.ts.
  "targets": [
    {
      "target_name": "pcap_pipe",
      "sources": [
        "addon/addon.cc",
        "addon/common.cc",
        "addon/devices.cc",
        "addon/live_session.cc",
        "addon/block_writer.cc",
        "addon/live_handle.cc",
        "addon/bpf_program.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        # Errors are returned as pending JS exceptions and checked explicitly: a C++ exception must never
        # unwind through libuv or libpcap frames.
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        # napi_add_async_cleanup_hook (closing uv handles on environment exit) needs Node-API 8.
        "NAPI_VERSION=8"
      ],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "10.15"
          }
        }]
      ],
      "libraries": ["-lpcap"]
    }
  ]
}
