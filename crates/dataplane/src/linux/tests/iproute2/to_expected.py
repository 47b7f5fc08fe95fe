import re,sys,glob
cmds={}
for l in open('cap.sh'):
    m=re.match(r'\$T (\d+)\.txt \$X (.*)',l.strip())
    if m: cmds[m.group(1)]=m.group(2)
for f in sorted(glob.glob('[0-9]*.txt')):
    n=f[:2]
    msgs=[];cur=None
    for l in open(f):
        if 'sendmsg(' in l or 'sendto(' in l:
            cur=[];msgs.append((('sendmsg(' in l),cur))
        elif l.startswith(' | ') and cur is not None:
            cur.append(l[3:60].replace(' ',''))
    sm=[''.join(c)[8:] if False else ''.join(c) for s,c in msgs if s]
    # strip the offsets: first 5 chars of each row
    out=[]
    for s,c in msgs:
        if s: out.append(''.join(x[5:] for x in c))
    print('#', cmds[n]); print(n, out[-1] if out else 'NONE')
