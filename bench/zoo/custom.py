import torch, torch.nn as nn, torch.nn.functional as F, numpy as np, warnings, sys
import os as _os
ZOO = _os.environ.get("ZOO_DIR", "/tmp/zoo")
SINTER = _os.environ.get("SINTER_CLI", "build/sinter")
warnings.filterwarnings("ignore"); torch.manual_seed(0)
class UNet(nn.Module):
    def __init__(s):
        super().__init__()
        def blk(i,o): return nn.Sequential(nn.Conv2d(i,o,3,padding=1), nn.GroupNorm(8,o), nn.SiLU(), nn.Conv2d(o,o,3,padding=1), nn.GroupNorm(8,o), nn.SiLU())
        s.d1=blk(3,32); s.d2=blk(32,64); s.d3=blk(64,128)
        s.u2=nn.ConvTranspose2d(128,64,2,stride=2); s.c2=blk(128,64)
        s.u1=nn.ConvTranspose2d(64,32,4,stride=2,padding=1); s.c1=blk(64,32); s.out=nn.Conv2d(32,5,1)
    def forward(s,x):
        a=s.d1(x); b=s.d2(F.max_pool2d(a,2)); c=s.d3(F.avg_pool2d(b,2))
        y=s.c2(torch.cat([s.u2(c),b],1)); y=s.c1(torch.cat([s.u1(y),a],1)); return torch.softmax(s.out(y),1)
class Style(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1=nn.Conv2d(3,32,9,padding=4,padding_mode="reflect"); s.n1=nn.InstanceNorm2d(32, affine=True)
        s.c2=nn.Conv2d(32,64,3,stride=2,padding=1); s.n2=nn.InstanceNorm2d(64, affine=True)
        s.r=nn.Conv2d(64,64,3,padding=1,padding_mode="reflect"); s.nr=nn.InstanceNorm2d(64)
        s.c3=nn.Conv2d(64,32,3,padding=1); s.c4=nn.Conv2d(32,3,9,padding=4)
    def forward(s,x):
        y=F.relu(s.n1(s.c1(x))); y=F.relu(s.n2(s.c2(y))); y=y+s.nr(s.r(y))
        y=F.interpolate(y,scale_factor=2,mode="nearest"); y=F.relu(s.c3(y)); return torch.tanh(s.c4(y))*0.5+0.5
class Seq2Seq(nn.Module):
    def __init__(s):
        super().__init__(); s.emb=nn.Embedding(100,64); s.t=nn.Transformer(64,4,2,2,128,dropout=0.0,batch_first=True); s.o=nn.Linear(64,100)
    def forward(s,src,tgt):
        m=torch.triu(torch.full((tgt.shape[1],tgt.shape[1]),float("-inf")),1)
        return s.o(s.t(s.emb(src),s.emb(tgt),tgt_mask=m))
class Speech(nn.Module):
    def __init__(s):
        super().__init__(); s.c=nn.Sequential(nn.Conv1d(40,64,5,padding=2),nn.BatchNorm1d(64),nn.ReLU(),nn.Conv1d(64,64,3,stride=2,padding=1,groups=4),nn.ReLU())
        s.g=nn.GRU(64,48,num_layers=2,bidirectional=True,batch_first=True); s.o=nn.Linear(96,30)
    def forward(s,x):
        y=s.c(x).transpose(1,2); y,_=s.g(y); return F.log_softmax(s.o(y),-1)
class SR(nn.Module):
    def __init__(s):
        super().__init__(); s.a=nn.Conv2d(1,64,5,padding=2); s.b=nn.Conv2d(64,32,3,padding=1); s.c=nn.Conv2d(32,9,3,padding=1); s.p=nn.PixelShuffle(3); s.pr=nn.PReLU(64)
    def forward(s,x): return s.p(s.c(torch.tanh(s.b(s.pr(s.a(x))))))
class Vol(nn.Module):
    def __init__(s):
        super().__init__(); s.a=nn.Conv3d(1,8,3,padding=1); s.b=nn.Conv3d(8,16,3,padding=1); s.u=nn.ConvTranspose3d(16,8,2,stride=2); s.o=nn.Conv3d(16,2,1); s.bn=nn.BatchNorm3d(16)
    def forward(s,x):
        a=F.relu(s.a(x)); b=F.relu(s.bn(s.b(F.max_pool3d(a,2)))); return s.o(torch.cat([s.u(b),a],1))
class EinAttn(nn.Module):
    def __init__(s):
        super().__init__(); s.q=nn.Linear(32,32); s.k=nn.Linear(32,32); s.v=nn.Linear(32,32); s.ln=nn.LayerNorm(32)
    def forward(s,x):
        q=s.q(x).view(1,-1,4,8); k=s.k(x).view(1,-1,4,8); v=s.v(x).view(1,-1,4,8)
        a=torch.einsum("bqhd,bkhd->bhqk",q,k)/8**0.5; a=a.softmax(-1); o=torch.einsum("bhqk,bkhd->bqhd",a,v).reshape(1,-1,32)
        return s.ln(F.gelu(o,approximate="tanh")+x)
class TEnc(nn.Module):  # nn.TransformerEncoder: torch's sequence-first nn.MultiheadAttention, packed in_proj
    def __init__(s, batch_first):
        super().__init__(); s.bf=batch_first
        s.e=nn.TransformerEncoder(nn.TransformerEncoderLayer(128,4,256,dropout=0.0,batch_first=batch_first),2)
    def forward(s,x):
        T=x.shape[1] if s.bf else x.shape[0]
        return s.e(x, mask=torch.triu(torch.full((T,T),float("-inf")),1))
sel = sys.argv[1].split(",") if len(sys.argv)>1 else None
models = {
 "unet": (UNet(), (torch.randn(1,3,64,64),), ["x"]),
 "style": (Style(), (torch.rand(1,3,96,96),), ["x"]),
 "seq2seq": (Seq2Seq(), (torch.randint(0,100,(2,11)), torch.randint(0,100,(2,7))), ["src","tgt"]),
 "speech": (Speech(), (torch.randn(2,40,50),), ["x"]),
 "sr": (SR(), (torch.rand(1,1,40,40),), ["x"]),
 "vol": (Vol(), (torch.randn(1,1,16,16,16),), ["x"]),
 "einattn": (EinAttn(), (torch.randn(1,10,32),), ["x"]),
 "tenc_bf": (TEnc(True), (torch.randn(3,30,128),), ["x"]),        # batch_first, batch 3
 "tenc_dyn": (TEnc(False), (torch.randn(30,2,128),), ["x"]),      # sequence-first, dynamic axes
}
dynamic = {"tenc_dyn": {"x": {0: "t", 1: "b"}}}
for n,(m,args,names) in models.items():
    if sel and n not in sel: continue
    m.eval()
    if n=="seq2seq": m.train(); [setattr(x,"p",0.0) for x in m.modules() if isinstance(x, nn.Dropout)]
    try:
        # (torch 1.13's encoder layers take a fused fast path with no ONNX export under no_grad)
        with torch.no_grad() if not (n.startswith("tenc") or n == "seq2seq") else torch.enable_grad():
            torch.onnx.export(m,args,f"{ZOO}/{n}.onnx",opset_version=17,input_names=names,dynamic_axes=dynamic.get(n))
        np.savez(f"{ZOO}/{n}.inputs.npz", **{k:a.numpy() for k,a in zip(names,args)}); print("ok",n)
    except Exception as e: print("FAIL",n,repr(e)[:300])
