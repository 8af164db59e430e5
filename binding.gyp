{
  "targets": [
    {
      "target_name": "hgad",
      "sources": [
        "native/cpu/adam.cc",
        "native/cpu/anomaly_map.cc",
        "native/cpu/batch.cc",
        "native/cpu/coupling.cc",
        "native/cpu/device_none.cc",
        "native/cpu/elementwise.cc",
        "native/cpu/fold.cc",
        "native/cpu/gemm.cc",
        "native/cpu/gemm_deep.cc",
        "native/cpu/gemm_select.cc",
        "native/cpu/half.cc",
        "native/cpu/mixture_head.cc",
        "native/cpu/orthogonal.cc",
        "native/cpu/rows.cc",
        "native/cpu/threadpool.cc",
        "native/napi/adam_binding.cc",
        "native/napi/addon.cc",
        "native/napi/anomaly_map_binding.cc",
        "native/napi/args.cc",
        "native/napi/batch_binding.cc",
        "native/napi/coupling_binding.cc",
        "native/napi/cuda_resources.cc",
        "native/napi/elementwise_binding.cc",
        "native/napi/fold_binding.cc",
        "native/napi/gemm_binding.cc",
        "native/napi/half_binding.cc",
        "native/napi/mixture_binding.cc",
        "native/napi/orthogonal_binding.cc",
        "native/napi/rows_binding.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/ops",
        "native/cpu"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "-O3",
        "-fno-trapping-math",
        "-std=c++17"
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": [
          "-O3"
        ]
      },
      "msvs_settings": {
        "VCCLCompilerTool": {
          "ExceptionHandling": 1
        }
      }
    },
    {
      "target_name": "device_lifetimes_test",
      "type": "executable",
      "sources": [
        "native/device/allocator.cc",
        "native/device/handle_cache.cc",
        "native/device/resources.cc",
        "native/device/staging.cc",
        "native/test/device_lifetimes_test.cc"
      ],
      "include_dirs": [
        "native/ops",
        "native/device"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "-O2",
        "-std=c++17"
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      },
      "msvs_settings": {
        "VCCLCompilerTool": {
          "ExceptionHandling": 1
        }
      }
    }
  ]
}
