# Sourced by the TLS tests (not a test itself): make_test_certs DIR makes, with the openssl
# CLI, everything they need in DIR:
#   ca.pem/ca.key              the test CA
#   server.pem/server.key      a server certificate for localhost and 127.0.0.1 (chain: leaf + CA)
#   client.pem/client.key      a client certificate, CN=ci-runner-7
#   expired.pem/expired.key    a server certificate for localhost and 127.0.0.1 that expired in 2020
#   wrongname.pem/wrongname.key  a server certificate for elsewhere.example only
#   other-ca.pem               another CA, and from it:
#   other-server.pem/.key      a server certificate for localhost and 127.0.0.1
#   other-client.pem/.key      a client certificate, CN=intruder
make_test_certs() {
  local dir=$1
  mkdir -p "$dir"
  (
    set -e
    cd "$dir"
    new_key_csr() {  # NAME CN
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" \
        -subj "/CN=$2" 2>/dev/null
    }
    new_ca() {  # NAME CN
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.pem" \
        -days 30 -subj "/CN=$2" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign \
        2>/dev/null
    }
    sign() {  # NAME CA EXTENSIONS
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 30 -out "$1.leaf" \
        -extfile "$1.ext" 2>/dev/null
      cat "$1.leaf" "$2.pem" >"$1.pem"  # the chain, as --tls-cert takes it
    }
    local server_ext='subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth'
    local client_ext='extendedKeyUsage=clientAuth'
    new_ca ca test-ca
    new_ca other-ca other-ca
    new_key_csr server localhost && sign server ca "$server_ext"
    new_key_csr client ci-runner-7 && sign client ca "$client_ext"
    new_key_csr wrongname elsewhere.example && sign wrongname ca 'subjectAltName=DNS:elsewhere.example'
    new_key_csr other-server localhost && sign other-server other-ca "$server_ext"
    new_key_csr other-client intruder && sign other-client other-ca "$client_ext"
    # Expired: `openssl ca` takes explicit dates (x509 -req cannot start in the past).
    new_key_csr expired localhost
    printf '%s\n' "$server_ext" >expired.ext
    cat >ca.cnf <<'CNF'
[ca]
default_ca = test
[test]
database = index.txt
new_certs_dir = .
serial = ca.serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
CNF
    : >index.txt
    echo 1000 >ca.serial
    openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.leaf -notext \
      -startdate 20200101000000Z -enddate 20200201000000Z -extfile expired.ext 2>/dev/null
    cat expired.leaf ca.pem >expired.pem
  )
}
