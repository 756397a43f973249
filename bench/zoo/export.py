import sys, torch, warnings, numpy as np
import os as _os
ZOO = _os.environ.get("ZOO_DIR", "/tmp/zoo")
SINTER = _os.environ.get("SINTER_CLI", "build/sinter")
import torchvision.models as tvm
import torchvision.models.segmentation as seg
import torchvision.models.detection as det
import torchvision.models.video as vid
import torchvision.models.optical_flow as flow
warnings.filterwarnings("ignore")
torch.manual_seed(0)
def spec(n):
    if n in ("fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large", "deeplabv3_resnet50"):
        m = getattr(seg, n)(weights=None, weights_backbone=None, aux_loss=False) if n != "lraspp_mobilenet_v3_large" else seg.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)
        return m, (torch.randn(1, 3, 256, 256),), ["x"], 17
    if n in ("r3d_18", "mc3_18", "r2plus1d_18", "s3d"):
        return getattr(vid, n)(weights=None), (torch.randn(1, 3, 8, 112, 112),), ["x"], 17
    if n in ("ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn", "retinanet_resnet50_fpn", "fcos_resnet50_fpn", "maskrcnn_resnet50_fpn", "keypointrcnn_resnet50_fpn", "ssd300_vgg16"):
        m = getattr(det, n)(weights=None, weights_backbone=None)
        sz = 320 if "320" in n else 300 if "300" in n else 400
        return m, ([torch.rand(3, sz, sz)],), ["x"], 17
    if n == "raft_small":
        return flow.raft_small(weights=None), (torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)), ["a", "b"], 17
    if n in ("maxvit_t",):
        return tvm.maxvit_t(), (torch.randn(1, 3, 224, 224),), ["x"], 17
    if n == "convnext_small": return tvm.convnext_small(), (torch.randn(1,3,224,224),), ["x"], 17
    if n == "wide_resnet50_2": return tvm.wide_resnet50_2(), (torch.randn(1,3,224,224),), ["x"], 17
    if n == "vgg11_bn": return tvm.vgg11_bn(), (torch.randn(1,3,224,224),), ["x"], 17
    if n == "alexnet": return tvm.alexnet(), (torch.randn(1,3,224,224),), ["x"], 17
    if n == "efficientnet_b3": return tvm.efficientnet_b3(), (torch.randn(1,3,300,300),), ["x"], 17
    if hasattr(tvm, n):  # any other torchvision classifier, at its usual input size
        size = 299 if n == "inception_v3" else 224
        kw = {"aux_logits": False, "init_weights": True} if n in ("inception_v3", "googlenet") else {}
        return getattr(tvm, n)(weights=None, **kw), (torch.randn(1, 3, size, size),), ["x"], 17
    raise SystemExit("unknown " + n)
for n in sys.argv[1].split(","):
    try:
        m, args, names, op = spec(n)
        if n.startswith("vit_"):  # torchvision zeroes the ViT head: its output would be all zeros
            torch.nn.init.normal_(m.heads.head.weight, std=0.02)
        m.eval()
        # torch 1.13's nn.MultiheadAttention takes a fused fast path (aten::_native_multi_head_attention,
        # which has no ONNX export) under no_grad in eval mode: ViTs export with grad enabled
        with torch.no_grad() if not n.startswith("vit_") else torch.enable_grad():
            torch.onnx.export(m, args, f"{ZOO}/{n}.onnx", opset_version=op, input_names=names)
        np.savez(f"{ZOO}/{n}.inputs.npz", **{k: (a[0] if isinstance(a, list) else a).numpy() for k, a in zip(names, args)})
        print("ok", n, flush=True)
    except Exception as e:
        print("FAIL", n, repr(e)[:300], flush=True)
