import torch, torch.nn as nn, torch.nn.functional as F, numpy as np, warnings, sys, math
import os as _os
ZOO = _os.environ.get("ZOO_DIR", "/tmp/zoo")
SINTER = _os.environ.get("SINTER_CLI", "build/sinter")
warnings.filterwarnings("ignore"); torch.manual_seed(0)
class GPT(nn.Module):
    def __init__(s, V=200, D=64, H=4, L=2):
        super().__init__(); s.emb=nn.Embedding(V,D); s.pos=nn.Embedding(128,D); s.H=H
        s.blocks=nn.ModuleList([nn.ModuleDict(dict(ln1=nn.LayerNorm(D), qkv=nn.Linear(D,3*D), proj=nn.Linear(D,D), ln2=nn.LayerNorm(D), fc=nn.Linear(D,4*D), out=nn.Linear(4*D,D))) for _ in range(L)])
        s.lnf=nn.LayerNorm(D); s.head=nn.Linear(D,V,bias=False)
    def forward(s, ids, past_k, past_v):
        B,T=ids.shape; P=past_k.shape[3]
        pos=torch.arange(P,P+T).unsqueeze(0)
        x=s.emb(ids)+s.pos(pos); ks=[]; vs=[]
        for i,b in enumerate(s.blocks):
            h=b["ln1"](x); q,k,v=b["qkv"](h).split(x.shape[-1],dim=2)
            sh=lambda t: t.view(B,T,s.H,-1).transpose(1,2)
            q,k,v=sh(q),sh(k),sh(v)
            k=torch.cat([past_k[i],k],2); v=torch.cat([past_v[i],v],2); ks.append(k); vs.append(v)
            att=(q@k.transpose(-1,-2))/math.sqrt(q.shape[-1])
            mask=torch.ones(T,P+T,dtype=torch.bool).tril(P)
            att=att.masked_fill(~mask,float("-inf")).softmax(-1)
            y=(att@v).transpose(1,2).reshape(B,T,-1); x=x+b["proj"](y)
            x=x+b["out"](F.gelu(b["fc"](b["ln2"](x))))
        logits=s.head(s.lnf(x))
        top=torch.topk(logits[:,-1],5)
        return logits, torch.stack(ks), torch.stack(vs), top.values, top.indices
class Loopy(nn.Module):
    def forward(s, x, n):
        y = x
        for i in range(int(n)):
            y = torch.tanh(y @ x.t()) + y if y.shape[0] == x.shape[0] else y
        return y
class Misc(nn.Module):
    def __init__(s): super().__init__(); s.c=nn.Conv2d(3,8,3,padding=1)
    def forward(s,x):
        y=s.c(x); a=torch.cumsum(y,dim=2); b=torch.flip(y,[3]); g=F.grid_sample(y, torch.tanh(y[:,:2].permute(0,2,3,1)), align_corners=False)
        r=F.interpolate(y,size=(7,9),mode="bilinear",align_corners=True); m=y.max(dim=1,keepdim=True)[0]
        w=torch.where(y>0,y,torch.zeros_like(y)*y.mean()); n=F.normalize(y,dim=1); e=torch.einsum("bchw,bdhw->bcd",y,y)
        return a.sum()+b.mean()+g.std(), r, m, w, n, e, torch.argsort(y.flatten(1),dim=1)[:, :10], y.nonzero()[:20]
sel = sys.argv[1].split(",") if len(sys.argv) > 1 else None
D=64
models = {
 "gpt": (GPT(), (torch.randint(0,200,(2,5)), torch.randn(2,2,4,3,16), torch.randn(2,2,4,3,16)), ["ids","past_k","past_v"], dict(ids={0:"b",1:"t"}, past_k={1:"b",3:"p"}, past_v={1:"b",3:"p"})),
 "misc": (Misc(), (torch.randn(1,3,12,16),), ["x"], None),
}
for n,(m,args,names,dyn) in models.items():
    if sel and n not in sel: continue
    m.eval()
    try:
        with torch.no_grad(): torch.onnx.export(m,args,f"{ZOO}/{n}.onnx",opset_version=17,input_names=names,dynamic_axes=dyn)
        np.savez(f"{ZOO}/{n}.inputs.npz", **{k:a.numpy() for k,a in zip(names,args)}); print("ok",n)
    except Exception as e: print("FAIL",n,repr(e)[:300])
